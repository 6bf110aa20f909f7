import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.TreeSet;

import org.apache.catalina.authenticator.Constants;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.session.BackupManager;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.realm.GenericPrincipal;

/**
 * Writes what Tomcat's BackupManager puts in its LazyReplicatedMap, with the real
 * catalina-ha classes: a DeltaSession serialized as the map's value (its own stream, as
 * MapMessage carries it) and DeltaSession.getDiff() streams (DeltaRequest.serialize).
 * Usage: java BackupGolden outdir (scripts/gen-golden.sh backup).
 *
 * <p>{@code java BackupGolden read session.ser [diff.ser...]} reads a session stream the
 * way the map does, applies each diff with applyDiff and prints the session (see
 * {@link #describe}).
 */
public final class BackupGolden {
    static final long T = 1700000000000L;

    /** A class only Java knows: Go keeps it opaque. */
    public static final class Cart implements Serializable {
        private static final long serialVersionUID = 7L;
        String owner = "carol";
        int items = 3;
    }

    public static void main(String[] args) throws Exception {
        BackupManager m = new BackupManager();
        m.setContext(new StandardContext());
        if (args.length > 1 && args[0].equals("read")) {
            read(m, args);
            return;
        }
        Path out = Path.of(args[0]);
        DeltaSession s = (DeltaSession) m.createEmptySession();
        s.setValid(true);
        s.setCreationTime(T);
        s.setMaxInactiveInterval(1800);
        s.setNew(true, false);
        s.setId("A1.node1", false);
        s.setVersion(3);
        s.setAttribute("counter", Integer.valueOf(1), false, false);
        s.setAttribute("username", "bob", false, false);
        s.setAttribute("cart", new Cart(), false, false);
        s.setPrincipal(new GenericPrincipal("alice", List.of("member")), false);
        s.setNote(Constants.SESSION_ID_NOTE, "A0.node1", false);
        Files.write(out.resolve("session.ser"), serialize(s));

        DeltaSession e = (DeltaSession) m.createEmptySession();
        e.setValid(true);
        e.setCreationTime(T + 1000);
        e.setMaxInactiveInterval(60);
        e.setId("E1.node2", false);
        Files.write(out.resolve("session_empty.ser"), serialize(e));

        s.access(); // the times written above are long past: keep the session valid
        s.getDiff(); // forget what the setup recorded
        s.setAttribute("counter", Integer.valueOf(2));
        s.setAttribute("list", new ArrayList<>(List.of("a", "b")));
        s.removeAttribute("username");
        s.setMaxInactiveInterval(900);
        s.setNew(false);
        Files.write(out.resolve("diff.ser"), s.getDiff());
        s.setPrincipal(null);
        s.setAuthType("FORM");
        s.setNote("note1", "noted");
        Files.write(out.resolve("diff_principal.ser"), s.getDiff());
    }

    static byte[] serialize(Object o) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream oos = new ObjectOutputStream(bos)) {
            oos.writeObject(o);
        }
        return bos.toByteArray();
    }

    static void read(BackupManager m, String[] args) throws Exception {
        DeltaSession s;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(Files.readAllBytes(Path.of(args[1]))))) {
            s = (DeltaSession) in.readObject();
        }
        s.setOwner(m);
        for (int i = 2; i < args.length; i++) {
            byte[] d = Files.readAllBytes(Path.of(args[i]));
            s.applyDiff(d, 0, d.length);
        }
        describe(s);
    }

    /** Prints the session's id, times, flags, principal and attributes (sorted), one per line. */
    static void describe(DeltaSession s) {
        System.out.println("id " + s.getIdInternal());
        System.out.println("creation " + s.getCreationTimeInternal());
        System.out.println("maxInactive " + s.getMaxInactiveInterval());
        System.out.println("new " + s.isNew());
        System.out.println("version " + s.getVersion());
        Principal p = s.getPrincipal();
        String roles = p instanceof GenericPrincipal gp ? " " + Arrays.toString(gp.getRoles()) : "";
        System.out.println("principal " + (p == null ? "null" : p.getName() + roles));
        System.out.println("authType " + s.getAuthType());
        for (String name : new TreeSet<>(Collections.list(s.getAttributeNames()))) {
            Object v = s.getAttribute(name);
            String text = v instanceof Cart c ? c.owner + "/" + c.items : String.valueOf(v);
            System.out.println("attr " + name + " " + v.getClass().getName() + " " + text);
        }
    }
}
