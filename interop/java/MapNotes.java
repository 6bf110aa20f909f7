import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.List;
import org.apache.catalina.tribes.tipis.ReplicatedMapEntry;

/**
 * A list of strings that replicates by diff (replmap's diff interop test; its Go form is
 * internal/mapnotes): the diff is the strings added since the last one, as a serialized
 * ArrayList. The methods are synchronized, so lock and unlock do nothing. It asks for
 * access replication: a replicate(key, false) without changes sends MSG_ACCESS, and
 * accessEntry counts the MSG_ACCESS and MSG_NOTIFY_MAPMEMBER it is told of.
 */
final class MapNotes implements ReplicatedMapEntry {
    private static final long serialVersionUID = 1L;

    private final ArrayList<String> items = new ArrayList<>();
    private transient List<String> pending;
    private transient long version;
    private transient long lastTimeReplicated;
    private transient int accessed;

    MapNotes(String first) {
        items.add(first);
    }

    synchronized void add(String s) {
        items.add(s);
        pending().add(s);
    }

    private List<String> pending() {
        if (pending == null) {
            pending = new ArrayList<>();
        }
        return pending;
    }

    @Override
    public synchronized String toString() {
        return String.join(",", items);
    }

    @Override
    public synchronized boolean isDirty() {
        return !pending().isEmpty();
    }

    @Override
    public boolean isDiffable() {
        return true;
    }

    @Override
    public synchronized byte[] getDiff() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(b)) {
            out.writeObject(new ArrayList<>(pending()));
        }
        return b.toByteArray();
    }

    @Override
    public synchronized void applyDiff(byte[] diff, int offset, int length) throws IOException, ClassNotFoundException {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(diff, offset, length))) {
            for (Object o : (ArrayList<?>) in.readObject()) {
                items.add((String) o);
            }
        }
    }

    @Override
    public synchronized void resetDiff() {
        pending().clear();
    }

    @Override
    public void lock() {
    }

    @Override
    public void unlock() {
    }

    @Override
    public void setOwner(Object owner) {
    }

    @Override
    public synchronized long getVersion() {
        return version;
    }

    @Override
    public synchronized void setVersion(long version) {
        this.version = version;
    }

    @Override
    public synchronized long getLastTimeReplicated() {
        return lastTimeReplicated;
    }

    @Override
    public synchronized void setLastTimeReplicated(long lastTimeReplicated) {
        this.lastTimeReplicated = lastTimeReplicated;
    }

    @Override
    public boolean isAccessReplicate() {
        return true;
    }

    @Override
    public synchronized void accessEntry() {
        accessed++;
    }

    synchronized int accessed() {
        return accessed;
    }
}
