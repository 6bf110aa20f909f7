import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Principal;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;

import org.apache.catalina.Session;
import org.apache.catalina.authenticator.SingleSignOn;
import org.apache.catalina.authenticator.SingleSignOnEntry;
import org.apache.catalina.authenticator.SingleSignOnSessionKey;
import org.apache.catalina.core.StandardContext;
import org.apache.catalina.core.StandardHost;
import org.apache.catalina.realm.GenericPrincipal;
import org.apache.catalina.session.StandardManager;

/**
 * Writes Tomcat's SingleSignOnEntry (what ClusterSingleSignOn replicates as the value of
 * its map) with the real catalina classes, one ObjectOutputStream each, each read back and
 * checked before it is kept: with a GenericPrincipal, without a principal, with every
 * field null (the template Go writes new entries from) and with one session key.
 * Usage: java SsoGolden outdir (scripts/gen-golden.sh sso).
 */
public final class SsoGolden {

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);

        SingleSignOnEntry entry = new SingleSignOnEntry(
                new GenericPrincipal("ann", List.of("dev", "admin")), "FORM", "ann", "secret");
        write(out, "entry.ser", entry, "ann", new String[] {"admin", "dev"}, "FORM", "ann", "secret", true, null);

        write(out, "entry_no_principal.ser", new SingleSignOnEntry(null, "BASIC", "bob", null),
                null, null, "BASIC", "bob", null, true, null);

        write(out, "entry_empty.ser", new SingleSignOnEntry(null, null, null, null),
                null, null, null, null, null, false, null);

        // A session of context "/app" on host "localhost", as a StandardManager makes it.
        StandardHost host = new StandardHost();
        host.setName("localhost");
        StandardContext context = new StandardContext();
        context.setName("/app");
        context.setPath("/app");
        context.setParent(host);
        StandardManager manager = new StandardManager();
        manager.setContext(context);
        Session session = manager.createEmptySession();
        session.setValid(true);
        session.setId("S1.node1", false);
        entry.addSession(new SingleSignOn(), "SSOID1", session);
        write(out, "entry_session.ser", entry, "ann", new String[] {"admin", "dev"}, "FORM", "ann", "secret", true,
                "S1.node1 /app localhost");
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("golden check failed: " + what);
        }
    }

    static byte[] serialize(Object o) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        ObjectOutputStream oos = new ObjectOutputStream(bos);
        oos.writeObject(o);
        oos.flush();
        return bos.toByteArray();
    }

    /**
     * Writes e, reads it back and checks it. name/roles null: no principal; key null: no
     * sessions, else "sessionId contextName hostName" of the one session key.
     */
    static void write(Path out, String file, SingleSignOnEntry e, String name, String[] roles, String authType,
            String username, String password, boolean canReauth, String key) throws Exception {
        byte[] b = serialize(e);
        SingleSignOnEntry r;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            r = (SingleSignOnEntry) in.readObject();
            check(in.read() == -1, file + " data after the object");
        }
        Principal p = r.getPrincipal();
        if (name == null) {
            check(p == null, file + " principal " + p);
        } else {
            check(p instanceof GenericPrincipal, file + " principal " + p);
            check(p.getName().equals(name), file + " principal name " + p.getName());
            String[] got = ((GenericPrincipal) p).getRoles();
            check(Arrays.equals(got, roles), file + " roles " + Arrays.toString(got));
        }
        check(Objects.equals(r.getAuthType(), authType), file + " authType " + r.getAuthType());
        check(Objects.equals(r.getUsername(), username), file + " username " + r.getUsername());
        check(Objects.equals(r.getPassword(), password), file + " password " + r.getPassword());
        check(r.getCanReauthenticate() == canReauth, file + " canReauthenticate " + r.getCanReauthenticate());
        Set<SingleSignOnSessionKey> keys = r.findSessions();
        check(keys.size() == (key == null ? 0 : 1), file + " sessions " + keys.size());
        if (key != null) {
            SingleSignOnSessionKey k = keys.iterator().next();
            String got = k.getSessionId() + " " + k.getContextName() + " " + k.getHostName();
            check(got.equals(key), file + " session key " + got);
        }
        Files.write(out.resolve(file), b);
    }
}
