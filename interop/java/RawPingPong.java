import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;
import java.util.UUID;

import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.Constants;

/**
 * The raw floor of bench-send's acked rows (Go: tribesdemo pingpong): the bytes of such a
 * row over one plain java.net.Socket, Tribes' frame of a ChannelData out and its ACK frame
 * back, one at a time, with no Tribes transport on either side (only XByteBuffer's byte
 * formats).
 *
 * <pre>
 * pingpong-serve [--bind 127.0.0.1] [--port 0] [--seconds 600]
 *     prints {"event":"started","host":..,"port":..,"id":..} (id: random, for the member text),
 *     answers every frame on every connection with an ACK frame; stdin "quit" or EOF ends it.
 * pingpong --to host:port[:idhex] [--size 64] [--options 3] [--count N] [--seconds T] [--warmup W]
 *     prints the "bench" event of bench-send.
 * </pre>
 */
final class RawPingPong {

    private RawPingPong() {
    }

    static int serve(TribesPeer.Args a) throws Exception {
        TribesPeer.hardLimit(a.getInt("seconds", 600));
        ServerSocket ss = new ServerSocket();
        ss.bind(new InetSocketAddress(InetAddress.getByName(a.get("bind", "127.0.0.1")), a.getInt("port", 0)));
        byte[] id = uuid();
        Json.event("started").put("host", TribesPeer.hostString(ss.getInetAddress().getAddress()))
                .put("port", ss.getLocalPort()).put("id", Json.hex(id)).emit();
        Thread acceptor = new Thread(() -> {
            while (true) {
                Socket s;
                try {
                    s = ss.accept();
                } catch (IOException e) {
                    return;
                }
                Thread t = new Thread(() -> ackFrames(s), "pingpong-conn");
                t.setDaemon(true);
                t.start();
            }
        }, "pingpong-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        BenchSend.awaitQuit();
        ss.close();
        return 0;
    }

    /** Reads frames from s and writes an ACK frame after each, until s fails or ends. */
    static void ackFrames(Socket s) {
        try (Socket c = s) {
            c.setTcpNoDelay(true);
            DataInputStream in = new DataInputStream(new BufferedInputStream(c.getInputStream(), 64 * 1024));
            OutputStream out = c.getOutputStream();
            byte[] head = new byte[XByteBuffer.getDataPackageLength(0) - 7]; // START_DATA and the length
            byte[] body = new byte[0];
            while (true) {
                in.readFully(head);
                int len = XByteBuffer.toInt(head, head.length - 4);
                if (len < 0 || len > TribesPeer.MAX_SIZE) {
                    throw new IOException("bad frame length " + len);
                }
                if (body.length < len + 7) {
                    body = new byte[len + 7];
                }
                in.readFully(body, 0, len + 7);
                out.write(Constants.ACK_COMMAND);
            }
        } catch (IOException e) {
            // the connection ended
        }
    }

    static int client(TribesPeer.Args a) throws Exception {
        String to = a.opts.get("to");
        if (to == null) {
            TribesPeer.usage("pingpong needs --to host:port[:idhex]");
        }
        int count = a.getInt("count", 10_000_000);
        int size = a.getInt("size", 64);
        int options = a.getInt("options", 3);
        int seconds = a.getInt("seconds", 0);
        int warmup = a.getInt("warmup", 0);
        if (count < 1 || count > TribesPeer.MAX_COUNT || size < 0 || size > TribesPeer.MAX_SIZE
                || warmup < 0 || warmup > TribesPeer.MAX_COUNT) {
            TribesPeer.usage("count/size/warmup out of range");
        }
        long limitMillis = seconds > 0 ? Math.min(seconds * 1000L, 3_600_000L) : 600_000L;
        TribesPeer.hardLimit((int) (2 * limitMillis / 1000L) + 60);
        MemberImpl dest = TribesPeer.parseMember(to.trim());
        try (Socket s = new Socket()) {
            s.setTcpNoDelay(true); // as Tribes' NioSender (tcpNoDelay defaults to true)
            s.connect(new InetSocketAddress(InetAddress.getByAddress(dest.getHost()), dest.getPort()));
            // The sender member in the frame: what a node on this socket's address would send.
            MemberImpl self = new MemberImpl(s.getLocalAddress().getHostAddress(), s.getLocalPort(), 1);
            self.setUniqueId(uuid());
            ChannelData cd = new ChannelData(true);
            cd.setAddress(self);
            cd.setOptions(options);
            cd.setTimestamp(System.currentTimeMillis());
            byte[] msg = TribesPeer.content(size, 0, new byte[0]);
            cd.setMessage(new XByteBuffer(msg, false));
            byte[] frame = XByteBuffer.createDataPackage(cd);
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            byte[] ack = new byte[Constants.ACK_COMMAND.length];

            long warmDeadline = System.nanoTime() + limitMillis * 1_000_000L;
            for (int i = 0; i < warmup && System.nanoTime() < warmDeadline; i++) {
                roundTrip(out, in, frame, ack);
            }
            long[] lat = new long[Math.min(count, 1 << 20)];
            int ok = 0;
            long start = System.nanoTime();
            long deadline = start + limitMillis * 1_000_000L;
            while (ok < count) {
                long t0 = System.nanoTime();
                if (t0 > deadline) {
                    break;
                }
                roundTrip(out, in, frame, ack);
                if (ok < lat.length) {
                    lat[ok] = System.nanoTime() - t0;
                }
                ok++;
            }
            double secs = (System.nanoTime() - start) / 1e9;
            BenchSend.benchEvent(Arrays.copyOf(lat, Math.min(ok, lat.length)), ok, 0, secs, size, 1, options, warmup)
                    .emit();
        }
        return 0;
    }

    static void roundTrip(OutputStream out, InputStream in, byte[] frame, byte[] ack) throws IOException {
        out.write(frame);
        for (int n = 0; n < ack.length;) {
            int k = in.read(ack, n, ack.length - n);
            if (k < 0) {
                throw new IOException("pingpong: connection closed");
            }
            n += k;
        }
        if (!Arrays.equals(ack, Constants.ACK_COMMAND)) {
            throw new IOException("pingpong: the reply is not an ACK frame");
        }
    }

    static byte[] uuid() {
        UUID u = UUID.randomUUID();
        byte[] b = new byte[16];
        XByteBuffer.toBytes(u.getMostSignificantBits(), b, 0);
        XByteBuffer.toBytes(u.getLeastSignificantBits(), b, 8);
        return b;
    }
}
