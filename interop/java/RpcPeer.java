import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelException;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.Response;
import org.apache.catalina.tribes.group.RpcCallback;
import org.apache.catalina.tribes.group.RpcChannel;
import org.apache.catalina.tribes.group.RpcMessage;

/**
 * Serializable messages and RpcChannel for the test peer: the node options --rpc ID
 * (an RpcChannel with that id, ISO-8859-1), --rpc-stall-prefix STR (requests that are
 * Strings starting with STR block until the command rpc-release or quit) and
 * --rpc-reply-options N; the commands sendobj, rpc and rpc-release; the bench-rpc and
 * rpc-golden subcommands. See README.md.
 */
final class RpcPeer implements RpcCallback {

    /** A custom Serializable class for interop tests (Go builds its descriptor by hand). */
    public static final class Value implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final int count;

        Value(String name, int count) {
            this.name = name;
            this.count = count;
        }

        @Override
        public String toString() {
            return "Value[name=" + name + ", count=" + count + "]";
        }
    }

    /** Longest a stalled request blocks a receiver thread. */
    static final long MAX_STALL_SECONDS = 120;

    final TribesPeer.Node node;
    final RpcChannel rpc;
    final String stallPrefix;
    final boolean quiet;
    final CountDownLatch release = new CountDownLatch(1);

    private RpcPeer(TribesPeer.Node node, String id, String stallPrefix, int replyOptions, boolean quiet) {
        this.node = node;
        this.stallPrefix = stallPrefix;
        this.quiet = quiet;
        if (id == null) {
            rpc = null;
        } else {
            rpc = new RpcChannel(id.getBytes(StandardCharsets.ISO_8859_1), node.channel, this);
            rpc.setReplyMessageOptions(replyOptions);
        }
    }

    static RpcPeer create(TribesPeer.Node node, TribesPeer.Args a) {
        return new RpcPeer(node, a.opts.get("rpc"), a.opts.get("rpc-stall-prefix"),
                a.getInt("rpc-reply-options", 0), a.flag("quiet"));
    }

    /** Unblocks stalled requests (on quit). */
    void close() {
        release.countDown();
    }

    @Override
    public Serializable replyRequest(Serializable msg, Member sender) {
        if (!quiet) {
            describe(Json.event("rpcRequest").put("from", TribesPeer.memberJson(sender)), msg).emit();
        }
        if (stallPrefix != null && msg instanceof String && ((String) msg).startsWith(stallPrefix)) {
            try {
                release.await(MAX_STALL_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return msg instanceof String ? "java:" + msg : msg;
    }

    @Override
    public void leftOver(Serializable msg, Member sender) {
        describe(Json.event("rpcLeftOver").put("from", TribesPeer.memberJson(sender)), msg).emit();
    }

    static Json describe(Json j, Object msg) {
        String s = String.valueOf(msg);
        if (s.length() > 200) {
            s = s.substring(0, 200);
        }
        return j.put("class", msg == null ? "null" : msg.getClass().getName()).put("string", s);
    }

    /** The object a command names: string S, int N, map, value NAME, bytes N, null. */
    static Serializable object(String[] f, int at) {
        String kind = f[at];
        String arg = f.length > at + 1 ? f[at + 1] : "";
        switch (kind) {
            case "string":
                return arg;
            case "int":
                return Integer.valueOf(arg);
            case "map":
                HashMap<String, Serializable> m = new HashMap<>();
                m.put("a", 1);
                m.put("b", "two");
                return m;
            case "value":
                return new Value(arg, arg.length());
            case "bytes":
                return TribesPeer.content(Integer.parseInt(arg), 0, new byte[0]);
            case "null":
                return null;
            default:
                throw new IllegalArgumentException("unknown object kind " + kind);
        }
    }

    static Member[] members(String list) throws Exception {
        String[] ms = list.split(",");
        Member[] dest = new Member[ms.length];
        for (int i = 0; i < ms.length; i++) {
            dest[i] = TribesPeer.parseMember(ms[i]);
        }
        return dest;
    }

    /** Handles sendobj, rpc and rpc-release; returns null for other commands. */
    Json command(String[] f) throws Exception {
        switch (f.length == 0 ? "" : f[0]) {
            case "sendobj":
                return sendObject(f);
            case "rpc":
                return call(f);
            case "rpc-release":
                release.countDown();
                return Json.event("released").put("reply", true);
            default:
                return null;
        }
    }

    /** sendobj &lt;members&gt; &lt;options&gt; &lt;kind&gt; [&lt;arg&gt;]: GroupChannel.send of a Serializable. */
    Json sendObject(String[] f) throws Exception {
        if (f.length < 4 || f.length > 5) {
            throw new IllegalArgumentException("usage: sendobj host:port:id[,...] options kind [arg]");
        }
        Serializable obj = object(f, 3);
        Json r = Json.event("sendResult").put("reply", true);
        try {
            node.channel.send(members(f[1]), obj, Integer.decode(f[2]));
            return r.put("sent", 1).put("failed", 0).put("errors", new ArrayList<>());
        } catch (ChannelException e) {
            List<Json> errs = new ArrayList<>();
            errs.add(Json.obj().put("member", "").put("cause", Json.cause(e)));
            return r.put("sent", 0).put("failed", 1).put("errors", errs);
        }
    }

    /** rpc &lt;members&gt; &lt;mode&gt; &lt;options&gt; &lt;timeoutMs&gt; &lt;kind&gt; [&lt;arg&gt;]: RpcChannel.send. */
    Json call(String[] f) throws Exception {
        if (rpc == null) {
            throw new IllegalStateException("the node has no --rpc channel");
        }
        if (f.length < 6 || f.length > 7) {
            throw new IllegalArgumentException("usage: rpc host:port:id[,...] mode options timeoutMs kind [arg]");
        }
        Serializable obj = object(f, 5);
        long t0 = System.nanoTime();
        Response[] rs = rpc.send(members(f[1]), obj, Integer.parseInt(f[2]), Integer.decode(f[3]),
                Long.parseLong(f[4]));
        long millis = (System.nanoTime() - t0) / 1_000_000L;
        List<Json> out = new ArrayList<>();
        for (Response r : rs) {
            out.add(describe(Json.obj().put("from", TribesPeer.memberJson(r.getSource())), r.getMessage()));
        }
        return Json.event("rpcResult").put("reply", true).put("responses", out).put("millis", millis);
    }

    // ------------------------------------------------------------- bench-rpc

    /**
     * bench-rpc --to host:port:idhex --rpc ID [--count N] [--size S] [--options O]
     * [--warmup W] [--timeout MS]: one thread, N timed ALL_REPLY calls of an S-byte byte[]
     * to a node started with --rpc ID (which echoes it back).
     */
    static int bench(TribesPeer.Args a) throws Exception {
        String to = a.opts.get("to");
        String id = a.opts.get("rpc");
        if (to == null || id == null) {
            TribesPeer.usage("bench-rpc needs --to host:port:idhex and --rpc ID");
        }
        int count = a.getInt("count", 10_000);
        int size = a.getInt("size", 64);
        int options = a.getInt("options", Channel.SEND_OPTIONS_DEFAULT);
        int warmup = a.getInt("warmup", 2000);
        long timeout = a.getInt("timeout", 5000);
        if (count < 1 || count > TribesPeer.MAX_COUNT || size < 0 || size > TribesPeer.MAX_SIZE || warmup < 0
                || warmup > TribesPeer.MAX_COUNT) {
            TribesPeer.usage("count/size/warmup out of range");
        }
        TribesPeer.hardLimit(900);
        TribesPeer.Node n = new TribesPeer.Node(a.get("bind", "127.0.0.1"), 0, 100, 0);
        RpcPeer p = new RpcPeer(n, id, null, 0, true);
        n.start();
        Member[] dest = members(to);
        byte[] msg = TribesPeer.content(size, 0, new byte[0]);
        for (int i = 0; i < warmup; i++) {
            p.rpc.send(dest, msg, RpcChannel.ALL_REPLY, options, timeout);
        }
        long[] lat = new long[count];
        int ok = 0;
        int failed = 0;
        long start = System.nanoTime();
        for (int i = 0; i < count; i++) {
            long t0 = System.nanoTime();
            Response[] rs = p.rpc.send(dest, msg, RpcChannel.ALL_REPLY, options, timeout);
            long d = System.nanoTime() - t0;
            if (rs.length == 1 && rs[0].getMessage() instanceof byte[]
                    && Arrays.equals((byte[]) rs[0].getMessage(), msg)) {
                lat[ok++] = d;
            } else {
                failed++;
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        long[] done = Arrays.copyOf(lat, ok);
        Arrays.sort(done);
        Json.event("bench").put("count", count).put("failed", failed).put("seconds", secs)
                .put("msgsPerSec", secs > 0 ? ok / secs : 0.0)
                .put("p50us", BenchSend.pct(done, 0.50) / 1e3)
                .put("p99us", BenchSend.pct(done, 0.99) / 1e3)
                .put("maxus", ok > 0 ? done[ok - 1] / 1e3 : 0.0)
                .put("size", size).put("options", options).put("warmup", warmup)
                .emit();
        n.stop();
        return 0;
    }

    // ----------------------------------------------------------- rpc-golden

    /**
     * rpc-golden OUTDIR: writes RpcMessage and NoRpcChannelReply streams as GroupChannel
     * sends them (one ObjectOutputStream.writeObject each) for rpc/golden_test.go, after
     * reading each back.
     */
    static int golden(String outdir) throws Exception {
        byte[] uuid = new byte[16];
        for (int i = 0; i < uuid.length; i++) {
            uuid[i] = (byte) i;
        }
        byte[] id = "test-rpc".getBytes(StandardCharsets.ISO_8859_1);
        byte[] longId = TribesPeer.content(2000, 0, new byte[0]);
        HashMap<String, Serializable> map = new HashMap<>();
        map.put("a", 1);
        map.put("b", "two");
        Path dir = Path.of(outdir);
        Files.createDirectories(dir);
        write(dir, "request.ser", new RpcMessage(id, uuid, "hello"));
        write(dir, "reply_map.ser", reply(new RpcMessage(id, uuid, map)));
        write(dir, "reply_null.ser", reply(new RpcMessage(id, uuid, null)));
        write(dir, "request_long_id.ser", new RpcMessage(longId, uuid, new Value("gopher", 6)));
        write(dir, "norpc.ser", new RpcMessage.NoRpcChannelReply(id, uuid));
        Json.event("goldenDone").put("dir", outdir).emit();
        return 0;
    }

    /** Sets the protected reply flag, as RpcChannel does before sending a reply. */
    static RpcMessage reply(RpcMessage m) throws Exception {
        java.lang.reflect.Field f = RpcMessage.class.getDeclaredField("reply");
        f.setAccessible(true);
        f.setBoolean(m, true);
        return m;
    }

    static void write(Path dir, String name, RpcMessage m) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(m);
        }
        byte[] b = bos.toByteArray();
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            Object back = in.readObject();
            if (back.getClass() != m.getClass() || !back.toString().endsWith("msg=" + valueOf(m))) {
                throw new IllegalStateException(name + " reads back as " + back);
            }
        }
        Files.write(dir.resolve(name), b);
    }

    /** The message part of RpcMessage.toString. */
    static String valueOf(RpcMessage m) {
        String s = m.toString();
        return s.substring(s.indexOf("; msg=") + 6);
    }
}
