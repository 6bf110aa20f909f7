import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.membership.StaticMember;
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
