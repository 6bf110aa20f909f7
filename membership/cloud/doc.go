// Package cloud is membership for clusters where multicast does not work (clouds,
// containers): Tomcat Tribes' CloudMembershipService. No membership packets go on the
// network; every node asks an external source which nodes exist, on Start and on every
// channel heartbeat (5 s), and a member the source has not listed for ExpirationTime
// (5 s) disappears.
//
// Two sources, as in Tomcat:
//
//   - ProviderKubernetes (the default): the running pods of a namespace, from the
//     Kubernetes API (GET /api/v1/namespaces/NS/pods[?labelSelector=…]) over HTTPS with
//     the service account's CA and bearer token, following a redirect that keeps the
//     protocol, as Tomcat's connection does, and no other (Go's HTTP client would send
//     the token again to the same host on another scheme). A pod's
//     member id is the MD5 digest of its uid; its alive time is how long before this
//     node's start the pod was created.
//   - ProviderDNS: the addresses a name resolves to (a headless service). A member's id
//     is the MD5 digest of its address; its alive time is -1. A message from a sender
//     the name does not resolve to makes the sender a member, as in Tomcat (whose
//     comment explains: DNS caches may lag behind new nodes), before that message's
//     delivery returns; its MemberAdded goes up on a goroutine of the service (or of a
//     change delivering meanwhile), in order with the other events, a listener's panic
//     in it logged, so messages that follow may reach message listeners first (no
//     listener holds the receive of a connection); a sender at this node's
//     own address and port never does, whatever id it claims (Tomcat ignores it for IPv4
//     only, where the id it derives is the local one). With the channel's default
//     sender check (channel.Config.AcceptNonMembers false), that first message itself is
//     dropped as a non-member's: a synchronized-ack sender gets FAIL_ACK, which
//     transport/nio retries once by default; a message without ack is lost. The retry
//     is delivered only if the sender's messages carry the id Tomcat derives for it (an
//     IPv4 Go node's LocalUniqueID): the sender is a member under that id, and the check
//     looks senders up by the id their messages carry. A sender with another id (a Java
//     node its own lookup has not listed yet still has a zero id; for an IPv6 sender
//     the derived id is the digest of its bytes in decimal, not LocalUniqueID) keeps
//     being dropped while the name leaves it out. Set AcceptNonMembers to deliver its
//     messages at once, as Java does. Anyone who reaches the receiver port so passes
//     every member check; DNSConfig.ListedOnly keeps the members to the addresses the
//     name resolves to.
//
// Every member has the local receiver's port: all nodes of the cluster listen on the
// same port, each at its own address. The entry at LocalIP is this node.
//
// # Ids shared with Java
//
// Java nodes compute the ids of the others from the source, so a Go node must advertise
// the id they compute for it, or Java sees a second member. LocalUniqueID returns it:
//
//	svc, err := cloud.New(cloud.Config{}) // the KUBERNETES_* variables of the pod
//	id, err := svc.LocalUniqueID(ctx)     // the digest of this pod's uid
//	ch, err := channel.New(channel.Config{Transport: tr, Membership: svc, UniqueID: id})
//
// node.Config.Cloud does this. Tomcat's own local member starts with a zero id and takes
// this one at its first listing.
//
// # Configuration
//
// Config's zero fields are filled from the environment variables Tomcat reads
// (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, KUBERNETES_NAMESPACE,
// KUBERNETES_LABELS, KUBERNETES_CA_CERTIFICATE_FILE, SA_TOKEN_FILE,
// DNS_MEMBERSHIP_SERVICE_NAME, …; OPENSHIFT_KUBE_PING_* first), then from defaults;
// an explicit field wins. Config.Resolved shows the result. Over plain HTTP
// (KUBERNETES_MASTER_PROTOCOL=http) the service account's token file may be missing, as
// outside a pod through kubectl proxy: requests then carry no token; a token file named
// in the configuration or the environment must exist, and over HTTPS the default one too
// (TestKubernetesPlainHTTPWithoutTokenFile).
//
// # Limits
//
// A pod list is read item by item, at most MaxResponseBytes (32 MiB) and MaxPods
// (10000) items; a larger or malformed answer fails the fetch with ErrTooLarge or
// ErrBadResponse (the members then expire as after any failed fetch) and is reported to
// the channel's health function. A status other than 200 fails it with an *APIError
// (wrapping ErrFetch) holding the status and the message of the API server's Status
// document (a 403's names the user and what it may not list), or the beginning of the
// body, of which at most 4 KiB is read. Such an error, like that of a malformed answer,
// holds at most 256 bytes of the answer, control characters and format characters
// (bidi overrides and isolates, zero-width characters, which could reorder or hide a
// log line's text) replaced: of a longer text, its beginning and its end. The answer's status line and headers may take at most
// MaxResponseHeaderBytes (384 KiB; Go's net/http default is 10 MiB) when the provider
// builds its HTTP transport; a longer header fails the fetch with ErrFetch. At most
// MaxMembers (1024) members are kept; new ones beyond are counted
// (Stats.MembersOverLimit) and logged rate-limited.
package cloud
