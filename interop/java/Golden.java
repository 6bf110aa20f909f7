import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;

import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.Constants;

/**
 * Writes golden byte files produced by the real Tribes classes, after checking
 * that each one parses back to the intended values. See
 * wire/testdata/golden/README.md.
 */
final class Golden {

    /** Spec section 4.2 sample. */
    static final String SPEC_MEMBER_BASIC =
            "5452494245532d420100" + "0000003a" + "0000000000003039" + "00000fa0" + "ffffffff" + "ffffffff"
            + "04" + "0a000001" + "00000000" + "00000003" + "646f6d" + "000102030405060708090a0b0c0d0e0f"
            + "00000002" + "aabb" + "5452494245532d450100";

    private Golden() {
    }

    static final class Mbr {
        byte[] host;
        int port;
        int securePort = -1;
        int udpPort = -1;
        long alive;
        byte[] command = new byte[0];
        byte[] domain = new byte[0];
        byte[] id = new byte[16];
        byte[] payload = new byte[0];
        /** The MemberImpl whose cached package holds the fixed alive time. */
        MemberImpl impl;
        byte[] bytes;
    }

    static byte[] seq(int from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("golden check failed: " + what);
        }
    }

    /** Serializes m with MemberImpl and patches the alive time (bytes 14..21). */
    static void build(Mbr m) throws Exception {
        MemberImpl impl = new MemberImpl();
        impl.setHost(m.host);
        impl.setPort(m.port);
        impl.setSecurePort(m.securePort);
        impl.setUdpPort(m.udpPort);
        impl.setCommand(m.command);
        impl.setDomain(m.domain);
        impl.setUniqueId(m.id);
        impl.setPayload(m.payload);
        impl.setMemberAliveTime(m.alive);
        byte[] d = impl.getData(false, true);
        // MemberImpl stamps "now - serviceStartTime" itself; write the fixed value
        // at offset len(TRIBES_MBR_BEGIN)+4 = 14.
        XByteBuffer.toBytes(m.alive, d, MemberImpl.TRIBES_MBR_BEGIN.length + 4);
        byte[] bytes = d.clone();
        MemberImpl carrier = null;
        if (Arrays.equals(impl.getData(false), bytes)) {
            carrier = impl; // getData returned the cached array itself
        } else {
            MemberImpl parsed = (MemberImpl) MemberImpl.getMember(bytes);
            if (Arrays.equals(parsed.getData(false), bytes)) {
                carrier = parsed;
            }
        }
        check(carrier != null, "no MemberImpl carries the patched package");
        m.impl = carrier;
        m.bytes = bytes;
        verify(m, bytes);
    }

    static void verify(Mbr m, byte[] bytes) {
        MemberImpl p = (MemberImpl) MemberImpl.getMember(bytes);
        check(Arrays.equals(p.getHost(), m.host), "host");
        check(p.getPort() == m.port, "port");
        check(p.getSecurePort() == m.securePort, "securePort");
        check(p.getUdpPort() == m.udpPort, "udpPort");
        check(p.getMemberAliveTime() == m.alive, "alive " + p.getMemberAliveTime());
        check(Arrays.equals(p.getCommand(), m.command), "command");
        check(Arrays.equals(p.getDomain(), m.domain), "domain");
        check(Arrays.equals(p.getUniqueId(), m.id), "uniqueId");
        check(Arrays.equals(p.getPayload(), m.payload), "payload");
        check(bytes.length == 73 + m.host.length + m.command.length + m.domain.length + m.payload.length,
                "member length " + bytes.length);
    }

    static byte[] frame(int options, long ts, byte[] id, Mbr addr, byte[] msg) throws Exception {
        ChannelData cd = new ChannelData(false);
        cd.setOptions(options);
        cd.setTimestamp(ts);
        cd.setUniqueId(id);
        cd.setAddress(addr.impl);
        cd.setMessage(new XByteBuffer(msg, false));
        byte[] f = XByteBuffer.createDataPackage(cd);

        // Parse back through the receiver path.
        XByteBuffer xb = new XByteBuffer(f.length + 16, true);
        xb.append(f, 0, f.length);
        check(xb.countPackages() == 1, "countPackages");
        ChannelData back = xb.extractPackage(true);
        checkData(back, options, ts, id, addr, msg);
        // And the body alone.
        byte[] body = Arrays.copyOfRange(f, 11, f.length - 7);
        check(XByteBuffer.toInt(f, 7) == body.length, "frame length field");
        checkData(ChannelData.getDataFromPackage(body), options, ts, id, addr, msg);
        check(Arrays.equals(body, cd.getDataPackage()), "getDataPackage == frame body");
        check(f.length == 18 + 24 + id.length + addr.bytes.length + msg.length, "frame size");
        return f;
    }

    static void checkData(ChannelData d, int options, long ts, byte[] id, Mbr addr, byte[] msg) {
        check(d.getOptions() == options, "options");
        check(d.getTimestamp() == ts, "timestamp");
        check(Arrays.equals(d.getUniqueId(), id), "message id");
        Member a = d.getAddress();
        check(Arrays.equals(((MemberImpl) a).getData(false), addr.bytes), "address bytes");
        verify(addr, ((MemberImpl) a).getData(false));
        check(Arrays.equals(d.getMessage().getBytes(), msg), "message");
    }

    static void write(File dir, String name, byte[] b) throws IOException {
        write(dir, name, Json.hex(b) + "\n");
    }

    static void write(File dir, String name, String s) throws IOException {
        Files.write(new File(dir, name).toPath(), s.getBytes(StandardCharsets.UTF_8));
        Json.event("golden").put("file", name).put("chars", s.length()).emit();
    }

    static int run(String outdir) throws Exception {
        File dir = new File(outdir);
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }

        Mbr basic = new Mbr();
        basic.host = new byte[] {10, 0, 0, 1};
        basic.port = 4000;
        basic.alive = 12345;
        basic.domain = "dom".getBytes(StandardCharsets.ISO_8859_1);
        basic.id = seq(0x00, 16);
        basic.payload = new byte[] {(byte) 0xaa, (byte) 0xbb};
        build(basic);
        check(basic.bytes.length == 82, "member_basic is 82 bytes");
        check(Json.hex(basic.bytes).equals(SPEC_MEMBER_BASIC), "member_basic equals spec 4.2 sample");

        Mbr v6 = new Mbr();
        v6.host = new byte[16];
        v6.host[15] = 1; // ::1
        v6.port = 4001;
        v6.securePort = 4443;
        v6.udpPort = 4002;
        v6.alive = 0;
        v6.command = Member.SHUTDOWN_PAYLOAD.clone();
        check(Arrays.equals(v6.command, "BABY-ALEX".getBytes(StandardCharsets.US_ASCII)), "SHUTDOWN_PAYLOAD");
        v6.id = seq(0xf0, 16);
        build(v6);

        Mbr empty = new Mbr();
        empty.host = new byte[] {127, 0, 0, 1};
        empty.port = 4000;
        empty.alive = 0;
        build(empty);
        // 77 bytes: the spec text (4.1) says 67, but 10+4+49+4+10 = 77 (bodyLength 53).
        check(empty.bytes.length == 77, "member_empty is 77 bytes");

        byte[] hello = frame(3, 0x0102030405060708L, seq(0x10, 16), basic,
                "hello".getBytes(StandardCharsets.US_ASCII));
        String specHello = "464c5432303032" + "0000007f" + "00000003" + "0102030405060708" + "00000010"
                + "101112131415161718191a1b1c1d1e1f" + "00000052" + SPEC_MEMBER_BASIC + "00000005"
                + "68656c6c6f" + "544c4632303033";
        check(Json.hex(hello).equals(specHello), "frame_channeldata_hello equals spec section 15 sample");

        byte[] aa = new byte[16];
        Arrays.fill(aa, (byte) 0xaa);
        byte[] emptyFrame = frame(1, 0L, aa, empty, new byte[0]);

        byte[] raw = XByteBuffer.createDataPackage(new byte[] {1, 2, 3});
        XByteBuffer xb = new XByteBuffer(64, true);
        xb.append(raw, 0, raw.length);
        check(xb.countPackages() == 1, "frame_raw countPackages");
        check(Arrays.equals(xb.extractDataPackage(true).getBytes(), new byte[] {1, 2, 3}), "frame_raw body");

        byte[] ack = Constants.ACK_COMMAND;
        byte[] nack = Constants.FAIL_ACK_COMMAND;
        check(ack.length == 21 && Arrays.equals(ack, XByteBuffer.createDataPackage(Constants.ACK_DATA)), "ACK frame");
        check(nack.length == 21 && Arrays.equals(nack, XByteBuffer.createDataPackage(Constants.FAIL_ACK_DATA)),
                "FAIL_ACK frame");

        StringBuilder opts = new StringBuilder();
        String[] names = {"byte_message", "byte", "use_ack", "synchronized_ack", "sync", "asynchronous", "async",
            "secure", "udp", "multicast", "use_ack,sync", "3"};
        for (String n : names) {
            opts.append("parse\t").append(n).append('\t').append(Channel.parseSendOptions(n)).append('\n');
        }
        int[] values = {0, 1, 2, 3, 6, 7, 8, 15, 32, 64, 127, 263};
        for (int v : values) {
            opts.append("string\t").append(v).append('\t').append(Channel.getSendOptionsAsString(v)).append('\n');
        }

        write(dir, "member_basic.hex", basic.bytes);
        write(dir, "member_ipv6_shutdown.hex", v6.bytes);
        write(dir, "member_empty.hex", empty.bytes);
        write(dir, "frame_channeldata_hello.hex", hello);
        write(dir, "frame_channeldata_empty.hex", emptyFrame);
        write(dir, "frame_raw.hex", raw);
        write(dir, "ack.hex", ack);
        write(dir, "fail_ack.hex", nack);
        write(dir, "options.txt", opts.toString());
        Json.event("goldenDone").put("dir", dir.getAbsolutePath()).emit();
        return 0;
    }
}
