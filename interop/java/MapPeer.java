import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.catalina.tribes.tipis.AbstractReplicatedMap;
import org.apache.catalina.tribes.tipis.LazyReplicatedMap;
import org.apache.catalina.tribes.tipis.ReplicatedMap;

/**
 * A LazyReplicatedMap or ReplicatedMap on the test peer's channel, driven by stdin commands
 * (replmap's interop test):
 * <pre>
 * map-start NAME [RPC_TIMEOUT_MS [lazy|replicated [SEND_OPTIONS]]]
 *                                   creates the map (its constructor runs INIT, state transfer,
 *                                   START), then sets its channelSendOptions
 * map-put KEY VALUE                 put(String, String)
 * map-fill N                        put("k0", 0) ... put("kN-1", N-1) (String, Integer)
 * map-get KEY                       get: {"found":bool,"value":String,"class":...}
 * map-keys                          keySetFull(), and size()
 * map-notes-put KEY ITEM            put(KEY, new MapNotes(ITEM))
 * map-notes-add KEY ITEM            adds ITEM to the MapNotes under KEY (get) and
 *                                   replicate(KEY, false): its diff to the backup nodes
 * map-notes-change KEY ITEM         adds ITEM to the MapNotes under KEY (get) without
 *                                   replicating it: the value is dirty
 * map-notes-touch KEY               replicate(KEY, false) of the MapNotes under KEY
 *                                   unchanged: MSG_ACCESS to the backup nodes
 * map-notes-accessed KEY            {"held":bool,"accessed":N}: whether the node holds a
 *                                   value of KEY (getInternal, no get) and how many
 *                                   accessEntry calls that MapNotes had
 * map-stop                          breakdown() (MSG_STOP to the others); map-start may follow
 * map-access-timeout MS             setAccessTimeout(MS)
 * map-heartbeat                     heartbeat(): pings the members, drops those silent for
 *                                   the access timeout
 * </pre>
 * The node needs a membership service (--static-membership) so that the map sees members.
 */
final class MapPeer {
    private static AbstractReplicatedMap<Serializable, Serializable> map;

    private MapPeer() {
    }

    /** Runs a map command; null for another command. */
    static synchronized Json command(TribesPeer.Node n, String[] f) {
        switch (f[0]) {
            case "map-start": {
                if (map != null) {
                    throw new IllegalStateException("map already started");
                }
                long timeout = f.length > 2 ? Long.parseLong(f[2]) : 5000;
                boolean replicated = f.length > 3 && f[3].equals("replicated");
                map = replicated ? new ReplicatedMap<>(null, n.channel, timeout, f[1], null)
                        : new LazyReplicatedMap<>(null, n.channel, timeout, f[1], null);
                if (f.length > 4) {
                    map.setChannelSendOptions(Integer.decode(f[4]));
                }
                return Json.event("mapStarted").put("reply", true).put("members", map.getMapMembers().length);
            }
            case "map-put": {
                Serializable old = map.put(f[1], f[2]);
                return Json.event("mapPut").put("reply", true).put("old", old == null ? null : old.toString());
            }
            case "map-fill": {
                int count = Integer.parseInt(f[1]);
                for (int i = 0; i < count; i++) {
                    map.put("k" + i, Integer.valueOf(i));
                }
                return Json.event("mapFilled").put("reply", true).put("size", map.size());
            }
            case "map-get": {
                Serializable v = map.get(f[1]);
                return Json.event("mapGet").put("reply", true).put("found", v != null)
                        .put("value", v == null ? null : v.toString())
                        .put("class", v == null ? null : v.getClass().getName());
            }
            case "map-notes-put": {
                map.put(f[1], new MapNotes(f[2]));
                return Json.event("mapNotesPut").put("reply", true);
            }
            case "map-notes-add": {
                ((MapNotes) map.get(f[1])).add(f[2]);
                map.replicate(f[1], false);
                return Json.event("mapNotesAdd").put("reply", true);
            }
            case "map-notes-change": {
                ((MapNotes) map.get(f[1])).add(f[2]);
                return Json.event("mapNotesChange").put("reply", true);
            }
            case "map-notes-touch": {
                map.replicate(f[1], false);
                return Json.event("mapNotesTouch").put("reply", true);
            }
            case "map-notes-accessed": {
                AbstractReplicatedMap.MapEntry<Serializable, Serializable> e = map.getInternal(f[1]);
                boolean held = e != null && e.getValue() instanceof MapNotes;
                return Json.event("mapNotesAccessed").put("reply", true).put("held", held)
                        .put("accessed", held ? ((MapNotes) e.getValue()).accessed() : 0);
            }
            case "map-keys": {
                List<String> keys = new ArrayList<>();
                for (Serializable k : map.keySetFull()) {
                    keys.add(k.toString());
                }
                return Json.event("mapKeys").put("reply", true).put("keys", keys).put("size", map.size())
                        .put("members", map.getMapMembers().length);
            }
            case "map-stop": {
                map.breakdown();
                map = null;
                return Json.event("mapStopped").put("reply", true);
            }
            case "map-access-timeout": {
                map.setAccessTimeout(Long.parseLong(f[1]));
                return Json.event("mapAccessTimeout").put("reply", true);
            }
            case "map-heartbeat": {
                map.heartbeat();
                return Json.event("mapHeartbeat").put("reply", true);
            }
            default:
                return null;
        }
    }
}
