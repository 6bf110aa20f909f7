import org.apache.catalina.tribes.membership.cloud.CloudMembershipService;

/**
 * Tomcat's CloudMembershipService for the test peer:
 * <pre>
 * node ... --cloud-membership kubernetes|dns [--expiration-time MS]
 *      [--connect-timeout MS] [--read-timeout MS]
 * </pre>
 * The provider reads its settings from the environment, as in a pod (KUBERNETES_SERVICE_HOST,
 * KUBERNETES_SERVICE_PORT, KUBERNETES_NAMESPACE, KUBERNETES_CA_CERTIFICATE_FILE, SA_TOKEN_FILE,
 * DNS_MEMBERSHIP_SERVICE_NAME, ...), and takes as its own address the first address of the host
 * name (InetAddress.getLocalHost): tests give the JVM -Djdk.net.hosts.file to choose it. The
 * local member keeps Tomcat's initial id (zeros) until the provider finds itself in the
 * listing; do not give --id.
 */
final class CloudPeer {
    private CloudPeer() {
    }

    /** Installs the service when --cloud-membership is given; returns whether it did. */
    static boolean configure(TribesPeer.Node n, TribesPeer.Args a) {
        String provider = a.opts.get("cloud-membership");
        if (provider == null) {
            return false;
        }
        if (a.opts.containsKey("mcast-addr") || a.opts.containsKey("static-membership")) {
            TribesPeer.usage("--cloud-membership excludes --mcast-addr and --static-membership");
        }
        if (a.opts.containsKey("id")) {
            TribesPeer.usage("--cloud-membership takes its id from the provider: no --id");
        }
        CloudMembershipService cms = new CloudMembershipService();
        cms.setMembershipProviderClassName(provider);
        if (a.opts.containsKey("expiration-time")) {
            cms.setExpirationTime(a.getInt("expiration-time", 5000));
        }
        if (a.opts.containsKey("connect-timeout")) {
            cms.setConnectTimeout(a.getInt("connect-timeout", 1000));
        }
        if (a.opts.containsKey("read-timeout")) {
            cms.setReadTimeout(a.getInt("read-timeout", 1000));
        }
        n.channel.setMembershipService(cms);
        return true;
    }
}
