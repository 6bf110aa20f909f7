import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Objects;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.tipis.AbstractReplicatedMap.MapMessage;

/**
 * map-golden OUTDIR: writes AbstractReplicatedMap$MapMessage streams (one
 * ObjectOutputStream.writeObject each, as GroupChannel sends them) for
 * replmap/golden_test.go, after reading each back. MemberImpl stamps its alive time when
 * it is written, so those eight bytes differ from run to run.
 */
final class MapGolden {
    private MapGolden() {
    }

    static int run(String outdir) throws Exception {
        byte[] id = "golden-map".getBytes(StandardCharsets.ISO_8859_1);
        Member m1 = member(4000, 1);
        Member m2 = member(4001, 2);
        Member[] backup = {m2};
        Path dir = Path.of(outdir);
        Files.createDirectories(dir);
        write(dir, "init.ser", new MapMessage(id, MapMessage.MSG_INIT, false, null, null, null, m1, null));
        write(dir, "backup.ser", new MapMessage(id, MapMessage.MSG_BACKUP, false, "k1", "v1", null, m1, backup));
        write(dir, "proxy.ser", new MapMessage(id, MapMessage.MSG_PROXY, false, "k1", null, null, m1, backup));
        write(dir, "remove.ser", new MapMessage(id, MapMessage.MSG_REMOVE, false, 42, null, null, null, null));
        write(dir, "retrieve_reply.ser", new MapMessage(id, MapMessage.MSG_RETRIEVE_BACKUP, false, "k1",
                new byte[] {1, 2, 3}, null, null, null));
        write(dir, "diff.ser", new MapMessage(id, MapMessage.MSG_BACKUP, true, "k1", null, new byte[] {9, 8, 7}, m1,
                new Member[] {m2, m1}));
        ArrayList<MapMessage> state = new ArrayList<>();
        state.add(new MapMessage(id, MapMessage.MSG_PROXY, false, "a", null, null, m1, backup));
        state.add(new MapMessage(id, MapMessage.MSG_PROXY, false, "b", null, null, m2, new Member[] {m1}));
        write(dir, "state_reply.ser", new MapMessage(id, MapMessage.MSG_STATE, false, null, state, null, null, null));
        write(dir, "ping_reply.ser", new MapMessage(id, MapMessage.MSG_PING, false, null, state("INITIALIZED"), null,
                m1, null));
        Json.event("goldenDone").put("dir", outdir).emit();
        return 0;
    }

    /** A member on 127.0.0.1 whose unique id is sixteen times b. */
    static Member member(int port, int b) {
        MemberImpl m = new MemberImpl();
        m.setHost(new byte[] {127, 0, 0, 1});
        m.setPort(port);
        byte[] uid = new byte[16];
        Arrays.fill(uid, (byte) b);
        m.setUniqueId(uid);
        return m;
    }

    /** A constant of the private enum AbstractReplicatedMap$State. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    static Serializable state(String name) throws Exception {
        Class c = Class.forName("org.apache.catalina.tribes.tipis.AbstractReplicatedMap$State");
        return (Serializable) Enum.valueOf(c, name);
    }

    static void write(Path dir, String name, MapMessage m) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(m);
        }
        byte[] b = bos.toByteArray();
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            MapMessage back = (MapMessage) in.readObject();
            back.deserialize(null);
            if (back.getValue() instanceof ArrayList<?> list) {
                for (Object o : list) {
                    ((MapMessage) o).deserialize(null);
                }
            }
            boolean same = back.getMsgType() == m.getMsgType() && Objects.equals(back.getKey(), m.getKey()) &&
                    (Objects.deepEquals(back.getValue(), m.getValue()) ||
                            String.valueOf(back.getValue()).equals(String.valueOf(m.getValue()))) &&
                    Arrays.equals(back.getDiffValue(), m.getDiffValue());
            if (!same) {
                throw new IllegalStateException(name + " reads back as " + back);
            }
        }
        Files.write(dir.resolve(name), b);
    }
}
