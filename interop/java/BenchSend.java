import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;

import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Member;

/**
 * bench-send (see TribesPeer) and what the peer's benchmarks share: the "bench" event,
 * percentiles, the JVM's peak resident set.
 */
final class BenchSend {

    private BenchSend() {
    }

    static int run(TribesPeer.Args a) throws Exception {
        String toS = a.opts.get("to");
        if (toS == null) {
            TribesPeer.usage("bench-send needs --to host:port:idhex[,...]");
        }
        int count = a.getInt("count", 10_000);
        int size = a.getInt("size", 1024);
        int options = a.getInt("options", 2);
        int seconds = a.getInt("seconds", 0);
        int warmup = a.getInt("warmup", 0);
        if (count < 1 || count > TribesPeer.MAX_COUNT || size < 0 || size > TribesPeer.MAX_SIZE || warmup < 0
                || warmup > TribesPeer.MAX_COUNT) {
            TribesPeer.usage("count/size/warmup out of range");
        }
        long limitMillis = seconds > 0 ? Math.min(seconds * 1000L, 3_600_000L) : 600_000L;
        TribesPeer.hardLimit((int) (limitMillis / 1000L) + 60);
        TribesPeer.Node n = new TribesPeer.Node(a.get("bind", "127.0.0.1"), a.getInt("port", 4100), a.getInt("autobind", 100), 0);
        TribesPeer.addInterceptors(n.channel, a.opts.get("interceptors"));
        n.start();
        // Every message goes to every --to member (the sender's parallel send), as Go's
        // tribesdemo send does to every member it knows.
        String[] tos = toS.split(",");
        Member[] dest = new Member[tos.length];
        for (int i = 0; i < tos.length; i++) {
            dest[i] = TribesPeer.parseMember(tos[i].trim());
        }
        byte[] msg = TribesPeer.content(size, 0, new byte[0]);

        long warmDeadline = System.nanoTime() + limitMillis * 1_000_000L;
        for (int i = 0; i < warmup && System.nanoTime() < warmDeadline; i++) {
            try {
                n.channel.send(dest, new ByteMessage(msg), options);
            } catch (Exception e) {
                // warm-up failures are not counted
            }
        }

        // At most 1 << 20 latencies, the first sends' (as RawPingPong and Go's send): the
        // sender's peak memory must not grow with --count, which bench sets to 10 000 000
        // and ends by --seconds.
        long[] lat = new long[Math.min(count, 1 << 20)];
        int ok = 0;
        int failed = 0;
        String firstError = null;
        long start = System.nanoTime();
        long deadline = start + limitMillis * 1_000_000L;
        for (int i = 0; i < count; i++) {
            long t0 = System.nanoTime();
            if (t0 > deadline) {
                break;
            }
            try {
                n.channel.send(dest, new ByteMessage(msg), options);
                if (ok < lat.length) {
                    lat[ok] = System.nanoTime() - t0;
                }
                ok++;
            } catch (Exception e) {
                failed++;
                if (firstError == null) {
                    firstError = TribesPeer.describe(e);
                }
            }
        }
        double secs = (System.nanoTime() - start) / 1e9;
        Json ev = benchEvent(Arrays.copyOf(lat, Math.min(ok, lat.length)), ok, failed, secs, size, dest.length, options, warmup);
        if (firstError != null) {
            ev.put("firstError", firstError);
        }
        ev.emit();
        n.stop();
        return 0;
    }

    /**
     * The "bench" event of ok successful sends (of ok + failed) to members each in secs,
     * lat holding the latencies of (some of) the successful ones, in ns; sorts lat.
     */
    static Json benchEvent(long[] lat, int ok, int failed, double secs, int size, int members, int options,
            int warmup) {
        Arrays.sort(lat);
        return Json.event("bench")
                .put("count", ok + failed)
                .put("failed", failed)
                .put("seconds", secs)
                .put("msgsPerSec", secs > 0 ? ok / secs : 0.0)
                .put("mbPerSec", secs > 0 ? (double) ok * size * members / secs / 1e6 : 0.0)
                .put("members", members)
                .put("p50us", pct(lat, 0.50) / 1e3)
                .put("p99us", pct(lat, 0.99) / 1e3)
                .put("maxus", lat.length > 0 ? lat[lat.length - 1] / 1e3 : 0.0)
                .put("size", size)
                .put("options", options)
                .put("warmup", warmup)
                .put("maxRssKb", vmHwmKb());
    }

    /** Blocks until stdin says "quit" or ends. */
    static void awaitQuit() throws java.io.IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null && !line.trim().equals("quit")) {
            // only quit and the end of stdin matter
        }
    }

    static double pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int idx = (int) Math.ceil(p * sorted.length) - 1;
        idx = Math.max(0, Math.min(sorted.length - 1, idx));
        return sorted[idx];
    }

    static long vmHwmKb() {
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) {
                    return Long.parseLong(l.substring(6).trim().split("\\s+")[0]);
                }
            }
        } catch (Exception e) {
            // not Linux
        }
        return -1;
    }
}
