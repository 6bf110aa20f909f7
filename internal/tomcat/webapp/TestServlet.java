import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import javax.management.ObjectName;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;

/**
 * The test web application of internal/tomcat, mapped to /* of the context /app:
 *
 * /counter       increments the session's java.lang.Integer "counter" (creating the session)
 * /set?name=&kind=&value=   sets an attribute of one kind (creating the session)
 * /get?name=     prints "class|value" of an attribute ("-" when absent; 404 without session)
 * /invalidate    invalidates the session
 * /changeid      changes the session id (HttpServletRequest.changeSessionId)
 * /count         prints the manager's number of active sessions
 * /counters      prints a line "id counter" for every session the manager holds ("-" for a
 *                session without counter), read through JMX: no session is touched or renamed
 * /manager?attr=&value=    sets an int or boolean property of the DeltaManager (JMX)
 * /heap          runs a full collection, then prints "used committed": the heap in use and
 *                the heap the JVM holds, in bytes
 * /cluster?sendOptions=     sets the cluster's channelSendOptions (JMX) and prints them
 * /ctxset?name=&kind=&value=  sets a ServletContext attribute of one kind; without value,
 *                removes it
 * /ctxget?name=  prints "class|value" of a ServletContext attribute ("-" when absent)
 * /health        prints ok
 *
 * Every answer but /counters' is one line of text; /counter and /changeid print "id counter".
 */
public class TestServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    /** A class only the web application knows: Go nodes carry it as opaque bytes. */
    public static final class Cart implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        final String owner;
        final int items;

        Cart(String spec) {
            String[] p = spec.split(":", 2);
            owner = p[0];
            items = Integer.parseInt(p[1]);
        }

        @Override
        public String toString() {
            return owner + ":" + items;
        }
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setContentType("text/plain");
        resp.setHeader("Cache-Control", "no-store");
        PrintWriter out = resp.getWriter();
        String path = req.getPathInfo() == null ? req.getServletPath() : req.getPathInfo();
        HttpSession s;
        switch (path) {
            case "/health":
                out.println("ok");
                return;
            case "/ctxset":
                if (req.getParameter("value") == null) {
                    getServletContext().removeAttribute(req.getParameter("name"));
                } else {
                    getServletContext().setAttribute(req.getParameter("name"),
                            value(req.getParameter("kind"), req.getParameter("value")));
                }
                out.println("ok");
                return;
            case "/ctxget":
                Object cv = getServletContext().getAttribute(req.getParameter("name"));
                out.println(cv == null ? "-" : cv.getClass().getName() + "|" + show(cv));
                return;
            case "/count":
                try {
                    out.println(ManagementFactory.getPlatformMBeanServer().getAttribute(manager(req), "activeSessions"));
                } catch (Exception e) {
                    throw new IOException(e);
                }
                return;
            case "/counters":
                try {
                    javax.management.MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
                    String[] sig = {String.class.getName(), String.class.getName()};
                    for (String id : ((String) mbs.invoke(manager(req), "listSessionIds", null, null)).split(" ")) {
                        if (id.isEmpty()) {
                            continue;
                        }
                        Object n;
                        try {
                            n = mbs.invoke(manager(req), "getSessionAttribute", new Object[] {id, "counter"}, sig);
                        } catch (javax.management.MBeanException e) { // invalidated meanwhile
                            n = null;
                        }
                        out.println(id + " " + (n == null ? "-" : n));
                    }
                } catch (Exception e) {
                    throw new IOException(e);
                }
                return;
            case "/heap":
                System.gc();
                java.lang.management.MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
                out.println(heap.getUsed() + " " + heap.getCommitted());
                return;
            case "/manager":
                try {
                    String v = req.getParameter("value");
                    if (v == null) { // read the attribute
                        out.println(ManagementFactory.getPlatformMBeanServer().getAttribute(manager(req),
                                req.getParameter("attr")));
                        return;
                    }
                    Object value = v.equals("true") || v.equals("false") ? (Object) Boolean.valueOf(v) : Integer.valueOf(v);
                    ManagementFactory.getPlatformMBeanServer().setAttribute(manager(req),
                            new javax.management.Attribute(req.getParameter("attr"), value));
                } catch (Exception e) {
                    throw new IOException(e);
                }
                out.println("ok");
                return;
            case "/cluster":
                try {
                    javax.management.MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
                    // The cluster itself, not its members and other components.
                    ObjectName cluster = new ObjectName("Catalina:type=Cluster");
                    if (!mbs.isRegistered(cluster)) {
                        resp.sendError(404, "no cluster");
                        return;
                    }
                    mbs.setAttribute(cluster, new javax.management.Attribute("channelSendOptions", req.getParameter("sendOptions")));
                    out.println(mbs.getAttribute(cluster, "channelSendOptions"));
                } catch (Exception e) {
                    throw new IOException(e);
                }
                return;
            case "/counter":
                s = req.getSession(true);
                Integer c = (Integer) s.getAttribute("counter");
                c = Integer.valueOf(c == null ? 1 : c.intValue() + 1);
                s.setAttribute("counter", c);
                out.println(s.getId() + " " + c);
                return;
            case "/login":
                // request.login against the Engine's MemoryRealm: Tomcat's authenticator
                // caches the principal in the session (and gives the session a new id).
                req.getSession(true);
                try {
                    req.login(req.getParameter("user"), req.getParameter("pw"));
                } catch (jakarta.servlet.ServletException e) {
                    resp.sendError(403, String.valueOf(e.getMessage()));
                    return;
                }
                out.println(req.getSession(false).getId() + " " + req.getUserPrincipal().getName());
                return;
            case "/whoami":
                // The principal the authenticator found in the session, if any.
                java.security.Principal p = req.getUserPrincipal();
                out.println(p == null ? "-" : p.getName() + " dev=" + req.isUserInRole("dev")
                        + " admin=" + req.isUserInRole("admin"));
                return;
            case "/set":
                s = req.getSession(true);
                s.setAttribute(req.getParameter("name"), value(req.getParameter("kind"), req.getParameter("value")));
                out.println(s.getId());
                return;
            default:
        }
        s = req.getSession(false);
        if (s == null) {
            resp.sendError(404, "no session");
            return;
        }
        switch (path) {
            case "/get":
                Object v = s.getAttribute(req.getParameter("name"));
                out.println(v == null ? "-" : v.getClass().getName() + "|" + show(v));
                return;
            case "/maxinactive":
                s.setMaxInactiveInterval(Integer.parseInt(req.getParameter("s")));
                out.println(s.getMaxInactiveInterval());
                return;
            case "/invalidate":
                s.invalidate();
                out.println("invalidated");
                return;
            case "/changeid":
                out.println(req.changeSessionId());
                return;
            default:
                resp.sendError(404, path);
        }
    }

    static ObjectName manager(HttpServletRequest req) throws Exception {
        return new ObjectName("Catalina:type=Manager,host=localhost,context=" + req.getContextPath());
    }

    static Object value(String kind, String v) {
        switch (kind) {
            case "string": return v;
            case "int": return Integer.valueOf(v);
            case "long": return Long.valueOf(v);
            case "bool": return Boolean.valueOf(v);
            case "double": return Double.valueOf(v);
            case "bytes": return v.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            case "date": return new Date(Long.parseLong(v));
            case "list": return new ArrayList<>(Arrays.asList(v.split(",")));
            case "set": return new LinkedHashSet<>(Arrays.asList(v.split(",")));
            case "cart": return new Cart(v);
            case "map":
                Map<String, Object> m = new HashMap<>();
                for (String kv : v.split(",")) {
                    String[] p = kv.split("=", 2);
                    m.put(p[0], p[1]);
                }
                return m;
            default: throw new IllegalArgumentException(kind);
        }
    }

    /** A stable text form: sorted maps, byte arrays as text, dates as millis. */
    static String show(Object v) {
        if (v instanceof byte[]) {
            return new String((byte[]) v, java.nio.charset.StandardCharsets.UTF_8);
        }
        if (v instanceof Date) {
            return Long.toString(((Date) v).getTime());
        }
        if (v instanceof Map) {
            return new TreeMap<>((Map<?, ?>) v).toString();
        }
        if (v instanceof List) {
            return v.toString();
        }
        return String.valueOf(v);
    }
}
