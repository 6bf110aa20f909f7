import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.apache.catalina.ha.deploy.FileMessage;
import org.apache.catalina.ha.deploy.UndeployMessage;
import org.apache.catalina.tribes.membership.MemberImpl;

/**
 * Writes the messages of Tomcat's FarmWarDeployer with the real catalina-ha classes:
 * FileMessage chunks of a war as FarmWarDeployer.install and FileMessageFactory build them
 * (the factory's one buffer, serialized whole even when the last chunk is shorter) and an
 * UndeployMessage, one ObjectOutputStream each (as XByteBuffer.serialize writes them),
 * each read back and checked before it is kept. Usage: java FarmGolden outdir
 * (scripts/gen-golden.sh farm).
 *
 * <p>MemberImpl stamps {@code now - serviceStartTime} as the alive time whenever it is
 * written; the member's start time is set 1000 ms back just before each write, and the
 * write is repeated (rarely needed) until the stream reads back with alive time 1000, so
 * the files do not change from run to run.
 */
public final class FarmGolden {
    static final long T = 1700000000000L;
    static final int CHUNK = 10240; // FileMessageFactory.READ_SIZE
    static final long ALIVE = 1000;

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        MemberImpl member = member();

        byte[] buf = new byte[CHUNK];
        for (int i = 0; i < buf.length; i++) {
            buf[i] = (byte) (i % 251);
        }
        FileMessage first = new FileMessage(member, "hello.war", "/hello");
        first.setData(buf, CHUNK);
        first.setMessageNumber(1);
        first.setTotalNrOfMsgs(2);
        first.setTimestamp(T);
        write(out, "file_first.ser", first, buf.clone());

        // FileMessageFactory reads the next chunk into the same array.
        for (int i = 0; i < 100; i++) {
            buf[i] = (byte) (200 + i % 50);
        }
        FileMessage last = new FileMessage(member, "hello.war", "/hello");
        last.setData(buf, 100);
        last.setMessageNumber(2);
        last.setTotalNrOfMsgs(2);
        last.setTimestamp(T);
        write(out, "file_last.ser", last, buf.clone());

        FileMessage empty = new FileMessage(member, "ROOT.war", "");
        empty.setData(new byte[0], 0);
        empty.setMessageNumber(1);
        empty.setTotalNrOfMsgs(1);
        empty.setTimestamp(T);
        write(out, "file_empty_name.ser", empty, new byte[0]);

        UndeployMessage undeploy = new UndeployMessage(member, T, "Undeploy:/hello:" + T, "/hello");
        writeUndeploy(out, "undeploy.ser", undeploy, member);
    }

    /** 127.0.0.1:4000, uniqueId 1..16, domain "farm", no payload. */
    static MemberImpl member() {
        MemberImpl m = new MemberImpl();
        m.setHost(new byte[] {127, 0, 0, 1});
        m.setPort(4000);
        byte[] uid = new byte[16];
        for (int i = 0; i < uid.length; i++) {
            uid[i] = (byte) (i + 1);
        }
        m.setUniqueId(uid);
        m.setDomain("farm".getBytes(StandardCharsets.UTF_8));
        m.setPayload(new byte[0]);
        m.setMemberAliveTime(ALIVE);
        return m;
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException("golden check failed: " + what);
        }
    }

    /** As XByteBuffer.serialize: one ObjectOutputStream, writeObject, flush. */
    static byte[] serialize(Object o) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        ObjectOutputStream oos = new ObjectOutputStream(bos);
        oos.writeObject(o);
        oos.flush();
        return bos.toByteArray();
    }

    static Object deserialize(byte[] b) throws Exception {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
            Object o = in.readObject();
            check(in.read() == -1, "data after the object");
            return o;
        }
    }

    static void write(Path out, String name, FileMessage msg, byte[] wholeArray) throws Exception {
        byte[] b = serialize(msg);
        FileMessage r = (FileMessage) deserialize(b);
        check(r.getFileName().equals(msg.getFileName()), name + " fileName " + r.getFileName());
        check(r.getContextName().equals(msg.getContextName()), name + " contextName " + r.getContextName());
        check(r.getMessageNumber() == msg.getMessageNumber(), name + " messageNumber " + r.getMessageNumber());
        check(r.getTotalNrOfMsgs() == msg.getTotalNrOfMsgs(), name + " totalNrOfMsgs " + r.getTotalNrOfMsgs());
        check(r.getDataLength() == msg.getDataLength(), name + " dataLength " + r.getDataLength());
        check(r.getTimestamp() == T, name + " timestamp " + r.getTimestamp());
        check(r.getAddress() == null, name + " address is transient");
        int n = msg.getDataLength();
        check(Arrays.equals(r.getData(), 0, n, wholeArray, 0, n), name + " data");
        check(Arrays.equals(r.getData(), wholeArray), name + " whole array (" + r.getData().length + " bytes)");
        Files.write(out.resolve(name), b);
    }

    static void writeUndeploy(Path out, String name, UndeployMessage msg, MemberImpl member) throws Exception {
        for (int attempt = 0; attempt < 100; attempt++) {
            member.setServiceStartTime(System.currentTimeMillis() - ALIVE);
            byte[] b = serialize(msg);
            UndeployMessage r = (UndeployMessage) deserialize(b);
            check(r.getContextName().equals(msg.getContextName()), name + " contextName " + r.getContextName());
            check(r.getUniqueId().equals(msg.getUniqueId()), name + " uniqueId " + r.getUniqueId());
            check(r.getTimestamp() == T, name + " timestamp " + r.getTimestamp());
            MemberImpl m = (MemberImpl) r.getAddress();
            check(m != null, name + " no member");
            check(Arrays.equals(m.getHost(), member.getHost()), name + " member host");
            check(m.getPort() == member.getPort(), name + " member port " + m.getPort());
            check(Arrays.equals(m.getUniqueId(), member.getUniqueId()), name + " member uniqueId");
            check(Arrays.equals(m.getDomain(), member.getDomain()), name + " member domain");
            check(m.getPayload().length == 0, name + " member payload");
            if (m.getMemberAliveTime() != ALIVE) {
                continue; // the clock ticked between setServiceStartTime and the write
            }
            Files.write(out.resolve(name), b);
            return;
        }
        throw new IllegalStateException("golden check failed: " + name + " alive time never " + ALIVE);
    }
}
