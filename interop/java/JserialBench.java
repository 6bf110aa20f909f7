import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Arrays;

/**
 * Times Java serialization of the session-message-sized graph of JserialGolden (the
 * counterpart of jserial's BenchmarkDecodeSessionGraph / BenchmarkEncodeSessionGraph),
 * the way Tribes serializes a message: a new ObjectOutputStream / ObjectInputStream per
 * object (XByteBuffer.serialize / deserialize). Subcommand jserial-bench
 * [--warmup-ms 3000] [--measure-ms 1000] [--rounds 5] [--golden FILE]; prints the best
 * round of wall time and of process CPU time per operation:
 * {"event":"jserialBench","encodeNs":x,"decodeNs":x,"encodeCpuNs":x,"decodeCpuNs":x,"bytes":n,...}.
 */
final class JserialBench {

    private JserialBench() {
    }

    static byte[] encode(Object o) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bos)) {
            out.writeObject(o);
            out.flush();
        }
        return bos.toByteArray();
    }

    static Object decode(byte[] b) throws IOException, ClassNotFoundException {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            return in.readObject();
        }
    }

    static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    /**
     * Runs op for about millis ms and returns {wall ns, process CPU ns} per operation
     * (CPU time of all the JVM's threads: GC and JIT included).
     */
    static double[] time(long millis, Op op) throws Exception {
        long sink = 0;
        long n = 0;
        long cpu0 = OS.getProcessCpuTime();
        long start = System.nanoTime();
        long end = start + millis * 1_000_000L;
        long now;
        do {
            for (int i = 0; i < 100; i++) {
                sink += op.run();
            }
            n += 100;
            now = System.nanoTime();
        } while (now < end);
        long cpu = OS.getProcessCpuTime() - cpu0;
        if (sink == 42) {
            System.err.println("sink");
        }
        return new double[] {(double) (now - start) / n, (double) cpu / n};
    }

    interface Op {
        long run() throws Exception;
    }

    static int run(TribesPeer.Args a) throws Exception {
        long warmupMs = Long.parseLong(a.get("warmup-ms", "3000"));
        long measureMs = Long.parseLong(a.get("measure-ms", "1000"));
        int rounds = Integer.parseInt(a.get("rounds", "5"));
        Object graph = JserialGolden.sessionGraph();
        byte[] bytes = encode(graph);
        JserialGolden.check(JserialGolden.same(graph, decode(bytes)), "bench graph round trip");
        String golden = a.get("golden", "");
        if (!golden.isEmpty()) {
            byte[] g = java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(golden));
            JserialGolden.check(Arrays.equals(g, bytes), "bench graph differs from " + golden);
        }
        Op enc = () -> encode(graph).length;
        Op dec = () -> ((java.util.Map<?, ?>) decode(bytes)).size();
        time(warmupMs, enc);
        time(warmupMs, dec);
        double[] encNs = {Double.MAX_VALUE, Double.MAX_VALUE};
        double[] decNs = {Double.MAX_VALUE, Double.MAX_VALUE};
        for (int r = 0; r < rounds; r++) {
            double[] e = time(measureMs, enc);
            double[] d = time(measureMs, dec);
            for (int i = 0; i < 2; i++) {
                encNs[i] = Math.min(encNs[i], e[i]);
                decNs[i] = Math.min(decNs[i], d[i]);
            }
        }
        Json.event("jserialBench").put("encodeNs", Math.round(encNs[0])).put("decodeNs", Math.round(decNs[0]))
                .put("encodeCpuNs", Math.round(encNs[1])).put("decodeCpuNs", Math.round(decNs[1]))
                .put("bytes", bytes.length).put("warmupMs", warmupMs).put("measureMs", measureMs)
                .put("rounds", rounds).put("java", System.getProperty("java.version")).emit();
        return 0;
    }
}
