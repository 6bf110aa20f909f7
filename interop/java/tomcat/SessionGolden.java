import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.apache.catalina.Session;
import org.apache.catalina.authenticator.Constants;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.authenticator.ClusterSingleSignOnListener;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.session.SessionMessageImpl;
import org.apache.catalina.realm.GenericPrincipal;

/**
 * Writes golden session messages with the real catalina-ha classes: SessionMessageImpl of
 * every event, DeltaRequest bytes with every action type and the ALL_SESSION_DATA block
 * of DeltaManager. Usage: java SessionGolden outdir (see scripts/gen-golden.sh session).
 *
 * <p>{@code java SessionGolden read file...} reads each file's SessionMessageImpl stream (a
 * delta or ALL_SESSION_DATA) the way DeltaManager does, applies it to DeltaSessions and
 * prints each session's principal as Tomcat sees it, one line per fact (see {@link #describe}).
 */
public final class SessionGolden {
    static final String CTX = "localhost#/app";
    static final long T = 1700000000000L;

    /** A class only Java knows: Go keeps it opaque. */
    public static final class Cart implements Serializable {
        private static final long serialVersionUID = 7L;
        String owner = "carol";
        int items = 3;
    }

    /** A user principal of a realm that is not a GenericPrincipal: Go keeps it opaque. */
    public static final class User implements Principal, Serializable {
        private static final long serialVersionUID = 3L;
        final String name;

        User(String name) {
            this.name = name;
        }

        @Override
        public String getName() {
            return name;
        }
    }

    /** A principal with attributes of several kinds, wrapping user. */
    static GenericPrincipal withAttributes(String name, Principal user) {
        Map<String, Object> attrs = new HashMap<>();
        attrs.put("mail", name + "@example.com");
        attrs.put("cn", name); // the very String of the name: written as a back-reference
        attrs.put("uid", Integer.valueOf(1000));
        attrs.put("groups", new ArrayList<>(List.of("staff", "dev")));
        Map<String, Object> nested = new HashMap<>();
        nested.put("k", "v");
        nested.put("n", Long.valueOf(7));
        nested.put("zz", Boolean.TRUE);
        attrs.put("nested", nested);
        attrs.put("cart", new Cart());
        attrs.put("photo", new byte[] {9, 8, 7});
        return new GenericPrincipal(name, List.of("user", "admin"), user, null, null, attrs);
    }

    static Path out;

    public static void main(String[] args) throws Exception {
        if (args.length > 1 && args[0].equals("read")) {
            for (int i = 1; i < args.length; i++) {
                read(Path.of(args[i]));
            }
            return;
        }
        out = Path.of(args[0]);
        msg("created", SessionMessage.EVT_SESSION_CREATED, null, "S1.node1", "S1.node1-" + T, T);
        msg("expired", SessionMessage.EVT_SESSION_EXPIRED, null, "S1.node1", "S1.node1-EXPIRED-MSG", T);
        msg("accessed", SessionMessage.EVT_SESSION_ACCESSED, null, "S1.node1", "S1.node1-" + T, T);
        msg("getall", SessionMessage.EVT_GET_ALL_SESSIONS, null, "GET-ALL", "GET-ALL-" + CTX, T);
        msg("complete", SessionMessage.EVT_ALL_SESSION_TRANSFERCOMPLETE, null, "SESSION-STATE-TRANSFERRED",
                "SESSION-STATE-TRANSFERRED" + CTX, T);
        msg("nocontext", SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER, null, "NO-CONTEXT-MANAGER",
                "NO-CONTEXT-MANAGER-" + CTX, -1);

        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream oos = new ObjectOutputStream(bos)) {
            oos.writeUTF("S2.node2");
        }
        msg("changeid", SessionMessage.EVT_CHANGE_SESSION_ID, bos.toByteArray(), "S1.node1", "S1.node1-" + T, T);

        // Every attribute kind and every special action.
        DeltaRequest d = new DeltaRequest("S1.node1", false);
        d.setAttribute("s", "text");
        d.setAttribute("counter", Integer.valueOf(42));
        d.setAttribute("long", Long.valueOf(1L << 40));
        d.setAttribute("flag", Boolean.TRUE);
        d.setAttribute("dbl", Double.valueOf(2.5));
        d.setAttribute("bytes", new byte[] {1, 2, 3});
        d.setAttribute("date", new Date(T));
        ArrayList<Object> list = new ArrayList<>(List.of("a", Integer.valueOf(1000)));
        d.setAttribute("list", list);
        LinkedHashSet<Object> set = new LinkedHashSet<>(List.of("x", "y"));
        d.setAttribute("set", set);
        HashMap<String, Object> map = new HashMap<>();
        map.put("k", "v");
        map.put("n", Long.valueOf(7));
        d.setAttribute("map", map);
        d.setAttribute("cart", new Cart());
        d.removeAttribute("gone");
        d.setMaxInactiveInterval(1800);
        d.setNew(true);
        d.setPrincipal(new GenericPrincipal("alice", List.of("admin", "user")));
        d.setAuthType("FORM");
        d.setNote("note1", "noted");
        d.addSessionListener(new ClusterSingleSignOnListener("sso-1"));
        msg("delta", SessionMessage.EVT_SESSION_DELTA, serialize(d), "S1.node1", "S1.node1-" + T, T);

        DeltaRequest r = new DeltaRequest("S1.node1", false);
        r.setPrincipal(null);
        r.setAuthType(null);
        r.removeNote("note1");
        r.removeSessionListener(new ClusterSingleSignOnListener("sso-1"));
        r.setNew(false);
        msg("delta_remove", SessionMessage.EVT_SESSION_DELTA, serialize(r), "S1.node1", "S1.node1-" + T, T);

        // ALL_SESSION_DATA: two sessions in DeltaSession's layout.
        Sessions m = new Sessions();
        m.setContext(new StandardContext());
        DeltaSession a = (DeltaSession) m.createEmptySession();
        a.setValid(true);
        a.setCreationTime(T);
        a.setMaxInactiveInterval(1800);
        a.setId("A1.node1", false);
        a.setAttribute("counter", Integer.valueOf(1), false, false);
        a.setAttribute("username", "bob", false, false);
        a.setAttribute("cart", new Cart(), false, false);
        a.setPrincipal(new GenericPrincipal("alice", List.of("member")), false);
        a.setNote(Constants.SESSION_ID_NOTE, "A0.node1", false);
        DeltaSession b = (DeltaSession) m.createEmptySession();
        b.setValid(true);
        b.setCreationTime(T + 1000);
        b.setMaxInactiveInterval(60);
        b.setNew(true);
        b.setId("B1.node1", false);
        b.setAttribute("counter", Integer.valueOf(1), false, false);
        write("all_sessions", message(SessionMessage.EVT_ALL_SESSION_DATA, m.serialize(new Session[] {a, b}),
                "SESSION-STATE", "SESSION-STATE-" + CTX, T));
        write("all_sessions_empty", message(SessionMessage.EVT_ALL_SESSION_DATA, m.serialize(new Session[0]),
                "SESSION-STATE", "SESSION-STATE-" + CTX, T));

        // Principals with attributes and wrapped user principals: a realm's own class, a
        // GenericPrincipal (written as a SerializablePrincipal too) and none.
        DeltaRequest p = new DeltaRequest("S1.node1", false);
        p.setPrincipal(withAttributes("alice", new User("alice@EXAMPLE.COM")));
        msg("delta_principal", SessionMessage.EVT_SESSION_DELTA, serialize(p), "S1.node1", "S1.node1-" + T, T);
        DeltaSession c = (DeltaSession) m.createEmptySession();
        c.setValid(true);
        c.setCreationTime(T);
        c.setMaxInactiveInterval(1800);
        c.setId("C1.node1", false);
        c.setPrincipal(withAttributes("carol", new GenericPrincipal("carol-inner", List.of("inner"))), false);
        DeltaSession e = (DeltaSession) m.createEmptySession();
        e.setValid(true);
        e.setCreationTime(T);
        e.setMaxInactiveInterval(1800);
        e.setId("E1.node1", false);
        e.setPrincipal(withAttributes("erin", null), false);
        write("all_sessions_principal", message(SessionMessage.EVT_ALL_SESSION_DATA,
                m.serialize(new Session[] {c, e}), "SESSION-STATE", "SESSION-STATE-" + CTX, T));
    }

    /** Reads a delta or ALL_SESSION_DATA message as DeltaManager does and describes the principals. */
    static void read(Path file) throws Exception {
        SessionMessage msg;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(Files.readAllBytes(file)))) {
            msg = (SessionMessage) in.readObject();
        }
        Sessions m = new Sessions();
        m.setContext(new StandardContext());
        switch (msg.getEventType()) {
            case SessionMessage.EVT_SESSION_DELTA -> {
                DeltaSession s = (DeltaSession) m.createEmptySession();
                s.setValid(true);
                s.setId(msg.getSessionID(), false);
                DeltaRequest d = new DeltaRequest();
                try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(msg.getSession()))) {
                    d.readExternal(in);
                }
                d.execute(s, false);
                System.out.println("session " + s.getIdInternal());
                describe("", s.getPrincipal());
            }
            case SessionMessage.EVT_ALL_SESSION_DATA -> {
                m.deserialize(msg.getSession());
                Session[] all = m.findSessions();
                Arrays.sort(all, (x, y) -> x.getIdInternal().compareTo(y.getIdInternal()));
                for (Session s : all) {
                    System.out.println("session " + s.getIdInternal());
                    describe("", s.getPrincipal());
                }
            }
            default -> throw new IllegalArgumentException("event " + msg.getEventType());
        }
    }

    /**
     * Prints a principal: its class and name, its roles, each attribute (sorted by name) with
     * the value's class and text, and the wrapped user principal the same way, indented.
     */
    static void describe(String indent, Principal p) {
        if (p == null) {
            System.out.println(indent + "principal null");
            return;
        }
        System.out.println(indent + "principal " + p.getClass().getName() + " " + p.getName());
        if (!(p instanceof GenericPrincipal g)) {
            return;
        }
        System.out.println(indent + "roles " + String.join(",", g.getRoles()));
        for (String name : new TreeSet<>(java.util.Collections.list(g.getAttributeNames()))) {
            Object v = g.getAttribute(name);
            String text = v instanceof byte[] b ? Arrays.toString(b)
                    : v instanceof Cart c ? c.owner + "/" + c.items
                    : v instanceof Map<?, ?> mp ? new java.util.TreeMap<>(mp).toString() : String.valueOf(v);
            System.out.println(indent + "attr " + name + " " + v.getClass().getName() + " " + text);
        }
        if (g.getUserPrincipal() != g) {
            describe(indent + "  ", g.getUserPrincipal());
        }
    }

    /** Reaches DeltaManager.serializeSessions, which is protected. */
    static final class Sessions extends DeltaManager {
        byte[] serialize(Session[] s) throws Exception {
            return serializeSessions(s);
        }

        void deserialize(byte[] data) throws Exception {
            deserializeSessions(data);
        }
    }

    static byte[] serialize(DeltaRequest d) throws Exception {
        Method m = DeltaRequest.class.getDeclaredMethod("serialize");
        m.setAccessible(true);
        return (byte[]) m.invoke(d);
    }

    static SessionMessageImpl message(int evt, byte[] data, String id, String unique, long ts) {
        SessionMessageImpl m = new SessionMessageImpl(CTX, evt, data, id, unique);
        if (ts >= 0) {
            m.setTimestamp(ts);
        }
        return m;
    }

    static void msg(String name, int evt, byte[] data, String id, String unique, long ts) throws Exception {
        write(name, message(evt, data, id, unique, ts));
    }

    static void write(String name, SessionMessageImpl m) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream oos = new ObjectOutputStream(bos)) {
            oos.writeObject(m);
        }
        Files.write(out.resolve(name + ".ser"), bos.toByteArray());
    }
}
