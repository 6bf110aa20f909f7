import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.membership.StaticMember;
import org.apache.catalina.tribes.membership.StaticMembershipProvider;
import org.apache.catalina.tribes.membership.StaticMembershipService;
import org.apache.catalina.tribes.util.UUIDGenerator;

/**
 * Tomcat's default static membership for the test peer:
 * <pre>
 * node ... --static-membership host:port:idhex,... [--channel-name NAME]
 *      [--expiration-time MS] [--ping-interval MS] [--use-thread true|false]
 *      [--rpc-timeout MS] [--connect-timeout MS]
 * </pre>
 * The channel gets a StaticMembershipService whose static members are the list; the local
 * member is a StaticMember at the receiver's address with --id (or a random id). Without
 * --channel-name the channel keeps Tribes' default name (null), so its membership id is
 * "null-StaticMembership"; a Tomcat cluster's is "&lt;clusterName&gt;-Channel".
 */
final class StaticPeer {
    private StaticPeer() {
    }

    /**
     * {@code java StaticPeer OUTDIR}: writes the MemberMessages of
     * membership/staticsvc/testdata (see its README.md), each read back before it is kept.
     */
    public static void main(String[] argv) throws Exception {
        if (argv.length != 1) {
            System.err.println("usage: StaticPeer OUTDIR");
            System.exit(2);
        }
        byte[] id = "Catalina-Channel-StaticMembership".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        MemberImpl m = new MemberImpl("10.0.0.1", 4000, 0);
        m.setUniqueId(new byte[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
        m.setDomain(new byte[] {'d', 'o', 'm'});
        m.setPayload(new byte[] {(byte) 0xAA, (byte) 0xBB});
        StaticMember sm = new StaticMember("127.0.0.1", 4001, 0);
        sm.setUniqueId(new byte[] {16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31});
        sm.setCommand(org.apache.catalina.tribes.Member.SHUTDOWN_PAYLOAD);
        write(argv[0], "start-memberimpl.ser", new StaticMembershipProvider.MemberMessage(id,
                StaticMembershipProvider.MemberMessage.MSG_START, m));
        write(argv[0], "stop-staticmember.ser", new StaticMembershipProvider.MemberMessage(id,
                StaticMembershipProvider.MemberMessage.MSG_STOP, sm));
    }

    static void write(String dir, String name, StaticMembershipProvider.MemberMessage msg) throws Exception {
        java.io.ByteArrayOutputStream bo = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bo)) {
            out.writeObject(msg);
        }
        byte[] b = bo.toByteArray();
        try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(b))) {
            StaticMembershipProvider.MemberMessage back = (StaticMembershipProvider.MemberMessage) in.readObject();
            if (back.getMsgtype() != msg.getMsgtype() || !back.getMember().equals(msg.getMember())) {
                throw new IllegalStateException(name + " does not read back");
            }
        }
        java.nio.file.Files.write(java.nio.file.Paths.get(dir, name), b);
    }

    /** Installs the service when --static-membership is given; returns whether it did. */
    static boolean configure(TribesPeer.Node n, TribesPeer.Args a, String bind) throws Exception {
        String list = a.opts.get("static-membership");
        if (list == null) {
            return false;
        }
        if (a.opts.containsKey("mcast-addr")) {
            TribesPeer.usage("--static-membership and --mcast-addr exclude each other");
        }
        if (a.opts.containsKey("channel-name")) {
            n.channel.setName(a.opts.get("channel-name"));
        }
        StaticMembershipService sms = new StaticMembershipService();
        for (String s : list.split(",")) {
            if (s.isBlank()) {
                continue;
            }
            MemberImpl m = TribesPeer.parseMember(s.trim());
            StaticMember sm = new StaticMember(TribesPeer.hostString(m.getHost()), m.getPort(), 0);
            sm.setUniqueId(m.getUniqueId());
            sms.addStaticMember(sm);
        }
        StaticMember local = new StaticMember(bind, n.receiver.getPort(), 0);
        String id = a.opts.get("id");
        local.setUniqueId(id != null ? Json.unhex(id) : UUIDGenerator.randomUUID(true));
        sms.setLocalMember(local);
        if (a.opts.containsKey("expiration-time")) {
            sms.setExpirationTime(a.getInt("expiration-time", 5000));
        }
        if (a.opts.containsKey("ping-interval")) {
            sms.setPingInterval(a.getInt("ping-interval", 1000));
        }
        if (a.opts.containsKey("rpc-timeout")) {
            sms.setRpcTimeout(a.getInt("rpc-timeout", 3000));
        }
        if (a.opts.containsKey("connect-timeout")) {
            sms.setConnectTimeout(a.getInt("connect-timeout", 500));
        }
        if (a.opts.containsKey("use-thread")) {
            sms.setUseThread(Boolean.parseBoolean(a.opts.get("use-thread")));
        }
        n.channel.setMembershipService(sms);
        return true;
    }
}
