import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;

import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelException;
import org.apache.catalina.tribes.ChannelListener;
import org.apache.catalina.tribes.ChannelMessage;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.UniqueId;
import org.apache.catalina.tribes.group.ChannelInterceptorBase;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.membership.McastService;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.ReplicationTransmitter;
import org.apache.catalina.tribes.transport.nio.NioReceiver;
import org.apache.catalina.tribes.transport.nio.PooledParallelSender;

/**
 * Test peer built on the real Apache Tomcat Tribes classes, driven by the Go
 * interop tests (see internal/javapeer). Stdout carries only JSON lines.
 *
 * <pre>
 * node --bind 127.0.0.1 --port 4000 [--autobind 100] [--id HEX32] [--throw-prefix STR] [--refuse-prefix STR] [--udp-port N]
 *      [--echo] [--quiet] [--seconds N] [--rx-threads N] [--buffer-pool true|false] [--domain STR] [--payload HEX]
 *      [--log-level WARNING] [--interceptors "TcpFailureDetector,Gzip(compressionMinSize=10),…"]
 *      [--mcast-addr 228.0.0.4 --mcast-port 45564 --mcast-bind 127.0.0.1 --frequency 500
 *       --drop-time 3000 --ttl 1] [--static-members host:port:idhex,... (with StaticMembership)]
 *      [--static-membership host:port:idhex,... --channel-name NAME ... (StaticMembershipService, see StaticPeer)]
 *      [--cloud-membership kubernetes|dns [--expiration-time MS] (CloudMembershipService, see CloudPeer)]
 *      [--rpc ID [--rpc-stall-prefix STR] [--rpc-reply-options N]] (RpcChannel, see RpcPeer)
 * bench-send --to host:port:idhex[,host:port:idhex...] --count N --size S --options O [--seconds T]
 *      [--bind 127.0.0.1 --port 4100] [--warmup N] [--interceptors "Order,MessageDispatch,Gzip"]
 * bench-rpc --to host:port:idhex --rpc ID [--count N] [--size S] [--options O] [--warmup W]
 * golden OUTDIR
 * pingpong-serve ..., pingpong --to host:port:idhex ... (see RawPingPong)
 * </pre>
 *
 * A port of 0 means "pick a currently free port" (the receiver then binds it,
 * with autobind as usual if somebody grabbed it in between).
 */
public final class TribesPeer {

    /** Hard upper bounds so that every loop ends. */
    static final int MAX_COUNT = 50_000_000;
    static final int MAX_SIZE = 256 * 1024 * 1024;
    static final long MAX_SEND_COMMAND_MILLIS = 300_000L;
    static final int ECHO_QUEUE = 10_000;

    private TribesPeer() {
    }

    public static void main(String[] argv) {
        Json.captureStdout();
        if (argv.length == 0) {
            usage("missing subcommand");
        }
        Args a = new Args(Arrays.copyOfRange(argv, 1, argv.length));
        quietLogging(a.get("log-level", "WARNING"));
        int rc;
        try {
            switch (argv[0]) {
                case "node":
                    rc = node(a);
                    break;
                case "bench-send":
                    rc = BenchSend.run(a);
                    break;
                case "bench-rpc":
                    rc = RpcPeer.bench(a);
                    break;
                case "golden":
                    if (a.positional.size() != 1) {
                        usage("golden needs exactly one output directory");
                    }
                    rc = Golden.run(a.positional.get(0));
                    break;
                case "rpc-golden":
                    if (a.positional.size() != 1) {
                        usage("rpc-golden needs exactly one output directory");
                    }
                    rc = RpcPeer.golden(a.positional.get(0));
                    break;
                case "map-golden":
                    if (a.positional.size() != 1) {
                        usage("map-golden needs exactly one output directory");
                    }
                    rc = MapGolden.run(a.positional.get(0));
                    break;
                case "jserial-golden":
                    if (a.positional.size() != 1) {
                        usage("jserial-golden needs exactly one output directory");
                    }
                    rc = JserialGolden.run(a.positional.get(0));
                    break;
                case "jserial-bench":
                    rc = JserialBench.run(a);
                    break;
                case "pingpong-serve":
                    rc = RawPingPong.serve(a);
                    break;
                case "pingpong":
                    rc = RawPingPong.client(a);
                    break;
                default:
                    usage("unknown subcommand " + argv[0]);
                    rc = 2;
            }
        } catch (Throwable t) {
            t.printStackTrace();
            Json.event("fatal").put("cause", Json.cause(t)).emit();
            rc = 1;
        }
        Runtime.getRuntime().halt(rc);
    }

    static void usage(String why) {
        Json.event("fatal").put("cause", "usage: " + why).emit();
        System.err.println("usage: TribesPeer node|bench-send|bench-rpc|golden|map-golden|jserial-golden|jserial-bench|pingpong-serve|pingpong ... (" + why + ")");
        Runtime.getRuntime().halt(2);
    }

    static void quietLogging(String level) {
        Level lvl;
        try {
            lvl = Level.parse(level);
        } catch (IllegalArgumentException e) {
            lvl = Level.WARNING;
        }
        Logger root = Logger.getLogger("");
        root.setLevel(lvl);
        for (Handler h : root.getHandlers()) {
            h.setLevel(lvl);
        }
        Logger.getLogger("org.apache.catalina.tribes").setLevel(lvl);
    }

    // ------------------------------------------------------------------ args

    static final class Args {
        final Map<String, String> opts = new HashMap<>();
        final Set<String> flags = new HashSet<>();
        final List<String> positional = new ArrayList<>();
        private static final Set<String> BOOL = Set.of("echo", "quiet");

        Args(String[] argv) {
            for (int i = 0; i < argv.length; i++) {
                String s = argv[i];
                if (s.startsWith("--")) {
                    String k = s.substring(2);
                    int eq = k.indexOf('=');
                    if (eq >= 0) {
                        opts.put(k.substring(0, eq), k.substring(eq + 1));
                    } else if (BOOL.contains(k)) {
                        flags.add(k);
                    } else if (i + 1 < argv.length) {
                        opts.put(k, argv[++i]);
                    } else {
                        usage("option --" + k + " needs a value");
                    }
                } else {
                    positional.add(s);
                }
            }
        }

        String get(String k, String def) {
            return opts.getOrDefault(k, def);
        }

        int getInt(String k, int def) {
            String v = opts.get(k);
            if (v == null) {
                return def;
            }
            try {
                return Integer.decode(v);
            } catch (NumberFormatException e) {
                usage("--" + k + " wants an integer, got " + v);
                return def;
            }
        }

        boolean getBool(String k, boolean def) {
            String v = opts.get(k);
            if (v == null) {
                return def;
            }
            if (!v.equals("true") && !v.equals("false")) {
                usage("--" + k + " wants true or false, got " + v);
            }
            return v.equals("true");
        }

        boolean flag(String k) {
            return flags.contains(k);
        }
    }

    // ------------------------------------------------------------- the node

    /** Carries the ChannelMessage of the message being delivered on this thread. */
    static final ThreadLocal<ChannelMessage> CURRENT = new ThreadLocal<>();

    /**
     * Interceptor that makes the ChannelMessage (options, id, timestamp)
     * visible to the listener, which only gets the payload and the sender.
     * Delivery to listeners happens synchronously on the receiving thread.
     */
    static final class Capture extends ChannelInterceptorBase {
        @Override
        public void messageReceived(ChannelMessage msg) {
            ChannelMessage prev = CURRENT.get();
            CURRENT.set(msg);
            try {
                super.messageReceived(msg);
            } finally {
                if (prev == null) {
                    CURRENT.remove();
                } else {
                    CURRENT.set(prev);
                }
            }
        }
    }

    static final class Node {
        final GroupChannel channel = new GroupChannel();
        final NioReceiver receiver = new NioReceiver();

        Node(String bind, int port, int autobind, int rxThreads) throws Exception {
            if (port == 0) {
                port = freePort(bind);
            }
            receiver.setAddress(bind);
            receiver.setBind(InetAddress.getByName(bind));
            receiver.setPort(port);
            receiver.setAutoBind(Math.max(1, autobind));
            if (rxThreads > 0) {
                receiver.setMaxThreads(rxThreads);
                receiver.setMinThreads(Math.min(rxThreads, 6));
            }
            ReplicationTransmitter tx = new ReplicationTransmitter();
            tx.setTransport(new PooledParallelSender());
            channel.setChannelReceiver(receiver);
            channel.setChannelSender(tx);
            channel.setJmxEnabled(false);
            ScheduledThreadPoolExecutor util = new ScheduledThreadPoolExecutor(2, r -> {
                Thread t = new Thread(r, "tribes-utility");
                t.setDaemon(true);
                return t;
            });
            channel.setUtilityExecutor(util);
            channel.addInterceptor(new Capture());
        }

        /** True when --mcast-addr configured multicast membership. */
        boolean mcast;
        /** True when --static-membership configured StaticMembershipService (StaticPeer). */
        boolean staticMembership;
        /** True when --cloud-membership configured CloudMembershipService (CloudPeer). */
        boolean cloudMembership;

        void start() throws ChannelException {
            // Membership levels start later (startMembership), if any is configured.
            channel.start(Channel.SND_RX_SEQ | Channel.SND_TX_SEQ);
        }

        /** Starts multicast membership (after the local member's id/domain/payload are set). */
        void startMembership() throws ChannelException {
            if (mcast || staticMembership || cloudMembership) {
                channel.start(Channel.MBR_RX_SEQ | Channel.MBR_TX_SEQ);
            }
        }

        /**
         * Configures multicast membership: --mcast-addr, --mcast-port, --mcast-bind (the
         * interface address: always set it, never the default route), --frequency, --drop-time,
         * --ttl. The membership service's local member also gets --domain and --payload.
         */
        void configureMcast(Args a) {
            String addr = a.opts.get("mcast-addr");
            if (addr == null) {
                return;
            }
            String bind = a.opts.get("mcast-bind");
            if (bind == null) {
                usage("--mcast-addr needs --mcast-bind (the interface address)");
            }
            McastService ms = (McastService) channel.getMembershipService();
            ms.setAddress(addr);
            ms.setPort(a.getInt("mcast-port", 45564));
            ms.setBind(bind);
            ms.setFrequency(a.getInt("frequency", 500));
            ms.setDropTime(a.getInt("drop-time", 3000));
            if (a.opts.containsKey("ttl")) {
                ms.setTtl(a.getInt("ttl", 1));
            }
            if (a.opts.containsKey("domain")) {
                ms.setDomain(a.opts.get("domain").getBytes(StandardCharsets.ISO_8859_1));
            }
            if (a.opts.containsKey("payload")) {
                ms.setPayload(Json.unhex(a.opts.get("payload")));
            }
            mcast = true;
        }

        MemberImpl local() {
            return (MemberImpl) channel.getLocalMember(false);
        }

        /** Stops the channel, bounded: the JVM is halted if stopping hangs. */
        void stop() {
            Thread watchdog = new Thread(() -> {
                try {
                    Thread.sleep(15_000);
                } catch (InterruptedException e) {
                    return;
                }
                System.err.println("TribesPeer: channel stop hung, halting");
                Runtime.getRuntime().halt(4);
            }, "stop-watchdog");
            watchdog.setDaemon(true);
            watchdog.start();
            try {
                channel.stop(mcast || staticMembership || cloudMembership ? Channel.DEFAULT : Channel.SND_RX_SEQ | Channel.SND_TX_SEQ);
            } catch (Throwable t) {
                System.err.println("TribesPeer: stop failed: " + t);
            }
            watchdog.interrupt();
        }
    }

    /**
     * Adds interceptors from a spec such as
     * "TcpFailureDetector(connectTimeout=500),MessageDispatch,Gzip(compressionMinSize=10),Order".
     * A bare name is looked up in org.apache.catalina.tribes.group.interceptors, with and
     * without the "Interceptor" suffix; a name with dots is a class name. Properties are set
     * through their public setters (String, int, long, boolean, double; byte[] from hex with
     * a "hex:" prefix). Order is Tribes' configuration order: first = closest to the application.
     */
    static void addInterceptors(GroupChannel ch, String spec) throws Exception {
        if (spec == null || spec.isBlank()) {
            return;
        }
        for (String item : splitTopLevel(spec)) {
            item = item.trim();
            if (item.isEmpty()) {
                continue;
            }
            String name = item;
            String props = "";
            int p = item.indexOf('(');
            if (p >= 0) {
                if (!item.endsWith(")")) {
                    usage("bad interceptor spec: " + item);
                }
                name = item.substring(0, p).trim();
                props = item.substring(p + 1, item.length() - 1);
            }
            Class<?> cls = null;
            String[] candidates = name.contains(".") ? new String[] {name} : new String[] {
                "org.apache.catalina.tribes.group.interceptors." + name + "Interceptor",
                "org.apache.catalina.tribes.group.interceptors." + name};
            for (String c : candidates) {
                try {
                    cls = Class.forName(c);
                    break;
                } catch (ClassNotFoundException e) {
                    // try the next form
                }
            }
            if (cls == null) {
                usage("unknown interceptor: " + name);
            }
            Object ic = cls.getDeclaredConstructor().newInstance();
            for (String kv : props.split(";")) {
                if (kv.isBlank()) {
                    continue;
                }
                int eq = kv.indexOf('=');
                if (eq < 0) {
                    usage("bad interceptor property: " + kv);
                }
                setProperty(ic, kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
            }
            ch.addInterceptor((org.apache.catalina.tribes.ChannelInterceptor) ic);
        }
    }

    /**
     * --static-members host:port:idhex,...: members of the StaticMembershipInterceptor that
     * --interceptors put in the stack (as StaticMember objects; the id must be the node's).
     */
    static void addStaticMembers(GroupChannel ch, String list) throws Exception {
        if (list == null || list.isBlank()) {
            return;
        }
        org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor smi = null;
        java.util.Iterator<org.apache.catalina.tribes.ChannelInterceptor> it = ch.getInterceptors();
        while (it.hasNext()) {
            org.apache.catalina.tribes.ChannelInterceptor ic = it.next();
            if (ic instanceof org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor) {
                smi = (org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor) ic;
            }
        }
        if (smi == null) {
            usage("--static-members needs StaticMembership in --interceptors");
        }
        for (String s : list.split(",")) {
            if (s.isBlank()) {
                continue;
            }
            MemberImpl m = parseMember(s.trim());
            // (The 4-argument constructor takes a payload, not the unique id.)
            org.apache.catalina.tribes.membership.StaticMember sm =
                    new org.apache.catalina.tribes.membership.StaticMember(hostString(m.getHost()), m.getPort(), 0);
            sm.setUniqueId(m.getUniqueId());
            smi.addStaticMember(sm);
        }
    }

    static java.util.List<String> splitTopLevel(String s) {
        java.util.List<String> out = new java.util.ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(') {
                depth++;
            } else if (c == ')') {
                depth--;
            } else if (c == ',' && depth == 0) {
                out.add(s.substring(start, i));
                start = i + 1;
            }
        }
        out.add(s.substring(start));
        return out;
    }

    static void setProperty(Object o, String key, String value) throws Exception {
        String setter = "set" + Character.toUpperCase(key.charAt(0)) + key.substring(1);
        for (java.lang.reflect.Method m : o.getClass().getMethods()) {
            if (!m.getName().equals(setter) || m.getParameterCount() != 1) {
                continue;
            }
            Class<?> t = m.getParameterTypes()[0];
            Object arg;
            if (t == String.class && !value.startsWith("hex:")) {
                arg = value;
            } else if (t == int.class || t == Integer.class) {
                arg = Integer.decode(value);
            } else if (t == long.class || t == Long.class) {
                arg = Long.decode(value);
            } else if (t == boolean.class || t == Boolean.class) {
                arg = Boolean.parseBoolean(value);
            } else if (t == double.class || t == Double.class) {
                arg = Double.parseDouble(value);
            } else if (t == byte[].class && value.startsWith("hex:")) {
                arg = Json.unhex(value.substring(4));
            } else {
                continue;
            }
            m.invoke(o, arg);
            return;
        }
        usage("no setter " + setter + " for " + key + "=" + value + " on " + o.getClass().getName());
    }

    static int freePort(String bind) throws Exception {
        try (ServerSocket ss = new ServerSocket()) {
            ss.bind(new InetSocketAddress(InetAddress.getByName(bind), 0));
            return ss.getLocalPort();
        }
    }

    static String hostString(byte[] host) {
        if (host == null) {
            return "";
        }
        try {
            return InetAddress.getByAddress(host).getHostAddress();
        } catch (Exception e) {
            return Json.hex(host);
        }
    }

    static Json memberJson(Member m) {
        Json j = Json.obj()
                .put("host", hostString(m.getHost()))
                .put("port", m.getPort())
                .put("id", Json.hex(m.getUniqueId()))
                .put("domain", new String(m.getDomain() == null ? new byte[0] : m.getDomain(),
                        StandardCharsets.ISO_8859_1))
                .put("payload", Json.hex(m.getPayload()))
                .put("alive", m.getMemberAliveTime())
                .put("securePort", m.getSecurePort())
                .put("udpPort", m.getUdpPort())
                .put("command", Json.hex(m.getCommand()));
        return j;
    }

    static String addr(Member m) {
        return hostString(m.getHost()) + ":" + m.getPort();
    }

    static final class Listener implements ChannelListener {
        final Node node;
        final byte[] throwPrefix;
        final boolean echo;
        final boolean quiet;
        final AtomicLong received = new AtomicLong();
        final AtomicLong bytes = new AtomicLong();
        final AtomicLong objects = new AtomicLong();
        final AtomicLong thrown = new AtomicLong();
        final AtomicLong echoed = new AtomicLong();
        final AtomicLong echoFailed = new AtomicLong();
        final ThreadPoolExecutor echoPool;
        /** Byte messages starting with it are not accepted (--refuse-prefix). */
        byte[] refusePrefix;

        Listener(Node node, String throwPrefix, boolean echo, boolean quiet) {
            this.node = node;
            this.throwPrefix = throwPrefix == null ? null : throwPrefix.getBytes(StandardCharsets.ISO_8859_1);
            this.echo = echo;
            this.quiet = quiet;
            this.echoPool = new ThreadPoolExecutor(1, 1, 60, TimeUnit.SECONDS,
                    new ArrayBlockingQueue<>(ECHO_QUEUE), r -> {
                        Thread t = new Thread(r, "echo-sender");
                        t.setDaemon(true);
                        return t;
                    });
        }

        @Override
        public boolean accept(Serializable msg, Member sender) {
            return refusePrefix == null || !(msg instanceof ByteMessage bm) || !startsWith(bm.getMessage(), refusePrefix);
        }

        @Override
        public void messageReceived(Serializable msg, Member sender) {
            ChannelMessage cm = CURRENT.get();
            if (!(msg instanceof ByteMessage)) {
                objects.incrementAndGet();
                if (!quiet) {
                    String s = String.valueOf(msg);
                    if (s.length() > 200) {
                        s = s.substring(0, 200);
                    }
                    Json.event("object")
                            .put("from", memberJson(sender))
                            .put("class", msg == null ? "null" : msg.getClass().getName())
                            .put("string", s)
                            .put("options", cm == null ? -1 : cm.getOptions())
                            .emit();
                }
                return;
            }
            byte[] b = ((ByteMessage) msg).getMessage();
            if (b == null) {
                b = new byte[0];
            }
            received.incrementAndGet();
            bytes.addAndGet(b.length);
            boolean doThrow = throwPrefix != null && startsWith(b, throwPrefix);
            if (doThrow) {
                thrown.incrementAndGet(); // counters before the event: "stats" after an event sees them
            }
            String sha = null;
            if (!quiet) {
                sha = Json.sha256(b);
                Json ev = Json.event("message")
                        .put("from", memberJson(sender))
                        .put("size", b.length)
                        .put("sha256", sha)
                        .put("options", cm == null ? -1 : cm.getOptions());
                if (cm != null) {
                    ev.put("msgId", Json.hex(cm.getUniqueId()));
                    ev.put("timestamp", cm.getTimestamp());
                }
                if (b.length <= 64) {
                    ev.put("data", Json.hex(b));
                }
                if (doThrow) {
                    ev.put("throw", true);
                }
                ev.emit();
            }
            if (doThrow) {
                throw new RuntimeException("TribesPeer: message starts with the throw prefix");
            }
            if (echo) {
                final byte[] copy = b;
                final String fsha = sha != null ? sha : Json.sha256(b);
                try {
                    echoPool.execute(() -> echoBack(sender, copy, fsha));
                } catch (RejectedExecutionException e) {
                    echoFailed.incrementAndGet();
                    Json.event("echoError").put("to", addr(sender)).put("size", copy.length)
                            .put("sha256", fsha).put("cause", "echo queue full").emit();
                }
            }
        }

        void echoBack(Member to, byte[] b, String sha) {
            long t0 = System.nanoTime();
            try {
                node.channel.send(new Member[] {to}, new ByteMessage(b),
                        Channel.SEND_OPTIONS_BYTE_MESSAGE | Channel.SEND_OPTIONS_USE_ACK
                                | Channel.SEND_OPTIONS_SYNCHRONIZED_ACK);
                echoed.incrementAndGet();
                if (!quiet) {
                    Json.event("echoed").put("to", addr(to)).put("id", Json.hex(to.getUniqueId()))
                            .put("size", b.length).put("sha256", sha)
                            .put("millis", (System.nanoTime() - t0) / 1_000_000L).emit();
                }
            } catch (Exception e) {
                echoFailed.incrementAndGet();
                Json.event("echoError").put("to", addr(to)).put("id", Json.hex(to.getUniqueId()))
                        .put("size", b.length).put("sha256", sha).put("cause", describe(e)).emit();
            }
        }
    }

    static boolean startsWith(byte[] b, byte[] p) {
        if (b.length < p.length) {
            return false;
        }
        for (int i = 0; i < p.length; i++) {
            if (b[i] != p[i]) {
                return false;
            }
        }
        return true;
    }

    static String describe(Exception e) {
        if (e instanceof ChannelException) {
            ChannelException.FaultyMember[] fm = ((ChannelException) e).getFaultyMembers();
            if (fm != null && fm.length > 0) {
                return Json.cause(fm[0].getCause());
            }
        }
        return Json.cause(e);
    }

    /** Message content shared with the Go side (javapeer.Content). */
    static byte[] content(int size, int seq, byte[] prefix) {
        int n = Math.max(size, prefix.length);
        byte[] b = new byte[n];
        System.arraycopy(prefix, 0, b, 0, prefix.length);
        for (int i = prefix.length; i < n; i++) {
            b[i] = (byte) (i * 7 + seq);
        }
        return b;
    }

    /** Parses "host:port[:idhex][@udpport]" (host may be "[v6]"). */
    static MemberImpl parseMember(String s) throws Exception {
        int udpPort = -1;
        int at = s.lastIndexOf('@');
        if (at > 0) {
            udpPort = Integer.parseInt(s.substring(at + 1));
            s = s.substring(0, at);
        }
        String[] parts = s.split(":");
        if (parts.length < 2) {
            throw new IllegalArgumentException("member must be host:port[:idhex]: " + s);
        }
        String idHex = null;
        int end = parts.length;
        if (parts.length >= 3 && parts[parts.length - 1].length() == 32) {
            idHex = parts[parts.length - 1];
            end--;
        }
        int port = Integer.parseInt(parts[end - 1]);
        String host = String.join(":", Arrays.copyOfRange(parts, 0, end - 1));
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        MemberImpl m = new MemberImpl(host, port, 0);
        if (idHex != null) {
            m.setUniqueId(Json.unhex(idHex));
        }
        m.setUdpPort(udpPort);
        return m;
    }

    static int node(Args a) throws Exception {
        String bind = a.get("bind", "127.0.0.1");
        int seconds = a.getInt("seconds", 600);
        Node n = new Node(bind, a.getInt("port", 4000), a.getInt("autobind", 100), a.getInt("rx-threads", 0));
        if (a.opts.containsKey("udp-port")) {
            n.receiver.setUdpPort(a.getInt("udp-port", -1)); // messages with option 0x20 arrive here
        }
        if (a.opts.containsKey("buffer-pool")) {
            // The Receiver's useBufferPool (Tomcat's default true), copied into each receiver task it creates.
            n.receiver.setUseBufferPool(a.getBool("buffer-pool", true));
        }
        Listener l = new Listener(n, a.opts.get("throw-prefix"), a.flag("echo"), a.flag("quiet"));
        if (a.opts.containsKey("refuse-prefix")) {
            l.refusePrefix = a.opts.get("refuse-prefix").getBytes(StandardCharsets.ISO_8859_1);
        }
        n.channel.addChannelListener(l);
        RpcPeer rp = RpcPeer.create(n, a);
        addInterceptors(n.channel, a.opts.get("interceptors"));
        addStaticMembers(n.channel, a.opts.get("static-members"));
        n.configureMcast(a);
        n.staticMembership = StaticPeer.configure(n, a, bind);
        n.cloudMembership = CloudPeer.configure(n, a);
        n.channel.addMembershipListener(new org.apache.catalina.tribes.MembershipListener() {
            @Override
            public void memberAdded(Member m) {
                Json.event("memberAdded").put("member", memberJson(m)).emit();
            }

            @Override
            public void memberDisappeared(Member m) {
                Json.event("memberDisappeared").put("member", memberJson(m)).emit();
            }
        });
        n.start();
        MemberImpl local = n.local();
        String id = a.opts.get("id");
        if (id != null) {
            byte[] b = Json.unhex(id);
            if (b.length != 16) {
                throw new IllegalArgumentException("--id must be 32 hex digits");
            }
            // The local member is owned by the (not started) membership service;
            // setUniqueId also rebuilds its cached serialized form, which is what
            // goes into the address of every ChannelData we send afterwards.
            local.setUniqueId(b);
        }
        if (a.opts.containsKey("domain")) {
            local.setDomain(a.opts.get("domain").getBytes(StandardCharsets.ISO_8859_1));
        }
        if (a.opts.containsKey("payload")) {
            local.setPayload(Json.unhex(a.opts.get("payload")));
        }
        n.startMembership();
        hardLimit(seconds);
        Json.event("started")
                .put("host", hostString(local.getHost()))
                .put("port", local.getPort())
                .put("id", Json.hex(local.getUniqueId()))
                .emit();

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\\s+");
            // Optional "#<n>" tag: echoed as "cmdId" in the reply.
            Long cmdId = null;
            if (f[0].startsWith("#")) {
                try {
                    cmdId = Long.parseLong(f[0].substring(1));
                } catch (NumberFormatException e) {
                    cmdId = -1L;
                }
                f = Arrays.copyOfRange(f, 1, f.length);
            }
            String cmd = f.length == 0 ? "" : f[0];
            if (cmd.equals("quit")) {
                break;
            }
            Json reply;
            try {
                if (cmd.equals("send")) {
                    reply = doSend(n, f);
                } else if (cmd.equals("stats")) {
                    reply = Json.event("stats").put("reply", true)
                            .put("received", l.received.get()).put("bytes", l.bytes.get())
                            .put("objects", l.objects.get()).put("thrown", l.thrown.get())
                            .put("echoed", l.echoed.get()).put("echoFailed", l.echoFailed.get())
                            .put("bufferPool", n.receiver.getUseBufferPool());
                } else if (cmd.equals("members")) {
                    java.util.List<Json> ms = new java.util.ArrayList<>();
                    for (Member m : n.channel.getMembers()) {
                        ms.add(memberJson(m));
                    }
                    reply = Json.event("members").put("reply", true).put("members", ms);
                } else if (cmd.equals("ping")) {
                    reply = Json.event("pong").put("reply", true);
                } else if (cmd.equals("coordinator-view")) {
                    reply = coordinatorView(n);
                } else if ((reply = MapPeer.command(n, f)) != null) { // map-start, map-put, ...
                    // answered
                } else if ((reply = rp.command(f)) == null) { // sendobj, rpc, rpc-release
                    reply = Json.event("error").put("reply", true).put("error", "unknown command: " + cmd);
                }
            } catch (Exception e) {
                reply = Json.event("error").put("reply", true).put("error", Json.cause(e));
            }
            if (cmdId != null) {
                reply.put("cmdId", cmdId);
            }
            reply.emit();
        }
        rp.close();
        l.echoPool.shutdown();
        l.echoPool.awaitTermination(5, TimeUnit.SECONDS);
        n.stop();
        Json.event("stopped").emit();
        return 0;
    }

    /** The view of the channel's SimpleCoordinator, coordinator first (empty before it installed one). */
    static Json coordinatorView(Node n) {
        java.util.Iterator<org.apache.catalina.tribes.ChannelInterceptor> it = n.channel.getInterceptors();
        while (it.hasNext()) {
            if (it.next() instanceof org.apache.catalina.tribes.group.interceptors.SimpleCoordinator sc) {
                java.util.List<Json> ms = new java.util.ArrayList<>();
                Member[] view = sc.getView();
                if (view != null) {
                    for (Member m : view) {
                        ms.add(memberJson(m));
                    }
                }
                return Json.event("coordinatorView").put("reply", true).put("view", ms);
            }
        }
        return Json.event("error").put("reply", true).put("error", "no SimpleCoordinator in the stack");
    }

    static void hardLimit(int seconds) {
        if (seconds <= 0) {
            return;
        }
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000L);
            } catch (InterruptedException e) {
                return;
            }
            Json.event("timeout").put("seconds", seconds).emit();
            Runtime.getRuntime().halt(3);
        }, "hard-limit");
        t.setDaemon(true);
        t.start();
    }

    /** send &lt;members&gt; &lt;count&gt; &lt;size&gt; &lt;options&gt; [&lt;prefix&gt;] */
    static Json doSend(Node n, String[] f) throws Exception {
        if (f.length < 5 || f.length > 6) {
            throw new IllegalArgumentException("usage: send host:port:id[,...] count size options [prefix]");
        }
        String[] ms = f[1].split(",");
        Member[] dest = new Member[ms.length];
        for (int i = 0; i < ms.length; i++) {
            dest[i] = parseMember(ms[i]);
        }
        int count = Integer.parseInt(f[2]);
        int size = Integer.parseInt(f[3]);
        int options = Integer.decode(f[4]);
        byte[] prefix = f.length == 6 ? f[5].getBytes(StandardCharsets.ISO_8859_1) : new byte[0];
        if (count < 0 || count > MAX_COUNT || size < 0 || size > MAX_SIZE) {
            throw new IllegalArgumentException("count or size out of range");
        }
        int sent = 0;
        int failed = 0;
        boolean truncated = false;
        Map<String, Json> errors = new java.util.LinkedHashMap<>();
        List<String> shas = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        long t0 = System.nanoTime();
        long deadline = t0 + MAX_SEND_COMMAND_MILLIS * 1_000_000L;
        for (int seq = 0; seq < count; seq++) {
            if (System.nanoTime() > deadline) {
                truncated = true;
                break;
            }
            byte[] b = content(size, seq, prefix);
            if (count <= 10) {
                shas.add(Json.sha256(b));
            }
            try {
                UniqueId uid = n.channel.send(dest, new ByteMessage(b), options);
                if (count <= 10) {
                    ids.add(uid == null ? "" : Json.hex(uid.getBytes()));
                }
                sent++;
            } catch (ChannelException e) {
                failed++;
                if (count <= 10) {
                    ids.add("");
                }
                ChannelException.FaultyMember[] fm = e.getFaultyMembers();
                if (fm == null || fm.length == 0) {
                    addError(errors, "", Json.cause(e));
                } else {
                    for (ChannelException.FaultyMember m : fm) {
                        addError(errors, addr(m.getMember()), Json.cause(m.getCause()));
                    }
                }
            } catch (Exception e) {
                failed++;
                if (count <= 10) {
                    ids.add("");
                }
                addError(errors, "", Json.cause(e));
            }
        }
        Json r = Json.event("sendResult").put("reply", true)
                .put("sent", sent).put("failed", failed)
                .put("errors", new ArrayList<>(errors.values()));
        if (count <= 10) {
            r.put("sha256", shas);
            r.put("msgIds", ids);
        }
        if (truncated) {
            r.put("truncated", true);
        }
        r.put("millis", (System.nanoTime() - t0) / 1_000_000L);
        return r;
    }

    static void addError(Map<String, Json> errors, String member, String cause) {
        String key = member + "\u0000" + cause;
        if (errors.size() < 5 && !errors.containsKey(key)) {
            errors.put(key, Json.obj().put("member", member).put("cause", cause));
        }
    }
}
