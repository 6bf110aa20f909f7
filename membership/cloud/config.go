package cloud

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// Provider names, as Tomcat's membershipProviderClassName shortcuts.
const (
	// ProviderKubernetes lists the pods of a namespace through the Kubernetes API
	// (Tomcat: "kubernetes", KubernetesMembershipProvider; the default).
	ProviderKubernetes = "kubernetes"
	// ProviderDNS resolves a name to the addresses of the members (Tomcat: "dns",
	// DNSMembershipProvider).
	ProviderDNS = "dns"
)

// Defaults, with the Tomcat attribute or environment variable each one mirrors.
const (
	// DefaultExpirationTime is how long a member stays listed after the source last
	// listed it (CloudMembershipService expirationTime, 5000 ms).
	DefaultExpirationTime = 5000 * time.Millisecond
	// DefaultConnectTimeout bounds connecting to the Kubernetes API (connectTimeout, 1000 ms).
	DefaultConnectTimeout = 1000 * time.Millisecond
	// DefaultReadTimeout is how long the Kubernetes API may stay silent, before its answer
	// or between two reads of it (readTimeout, 1000 ms: a socket read timeout, as
	// Tomcat's). With ConnectTimeout it also bounds a DNS lookup (Tomcat's DNS lookups
	// have the system resolver's timeout).
	DefaultReadTimeout = 1000 * time.Millisecond
	// DefaultFetchTimeout bounds a whole fetch, however steadily the source answers (no
	// Tomcat equivalent: Tomcat reads as long as data comes). It is raised to
	// ConnectTimeout + ReadTimeout if those are longer.
	DefaultFetchTimeout = 10 * time.Second
	// DefaultNamespace is used when neither Config nor the environment name one
	// (Tomcat: "tomcat", with a warning).
	DefaultNamespace = "tomcat"
	// DefaultProtocol is the API's scheme (KUBERNETES_MASTER_PROTOCOL, https).
	DefaultProtocol = "https"
	// DefaultAPIVersion is the API version in the URL (KUBERNETES_API_VERSION, v1).
	DefaultAPIVersion = "v1"
	// DefaultCACertFile and DefaultTokenFile are the service account's files in a pod
	// (KUBERNETES_CA_CERTIFICATE_FILE, SA_TOKEN_FILE).
	DefaultCACertFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	DefaultTokenFile  = "/var/run/secrets/kubernetes.io/serviceaccount/token"

	// Limits on what a source may answer (no Tomcat equivalent: Tomcat reads whatever
	// arrives).

	// DefaultMaxResponseBytes is the largest pod list accepted (32 MiB: a few thousand
	// pods with their full specs and status).
	DefaultMaxResponseBytes = 32 << 20
	// DefaultMaxPods is how many pods a pod list may hold.
	DefaultMaxPods = 10000
	// DefaultMaxMembers is how many members the service keeps; addresses beyond it are
	// ignored (and logged).
	DefaultMaxMembers = 1024
)

// CustomEnvPrefix is the prefix of the environment variables that override the
// KUBERNETES_* ones (Tomcat's CUSTOM_ENV_PREFIX, from OpenShift's KUBE_PING).
const CustomEnvPrefix = "OPENSHIFT_KUBE_PING_"

// Errors. Every error of the package wraps one of them.
var (
	// ErrConfig is a configuration that cannot work (unknown provider, unreadable CA file).
	ErrConfig = errors.New("cloud: invalid configuration")
	// ErrFetch is a failure to ask the source (network, HTTP status: an *APIError, DNS).
	ErrFetch = errors.New("cloud: fetching members failed")
	// ErrBadResponse is an answer that is not a pod list.
	ErrBadResponse = errors.New("cloud: bad response")
	// ErrTooLarge is an answer over a limit (bytes, pods).
	ErrTooLarge = errors.New("cloud: response over limit")
	// ErrLocalNotListed is returned by LocalUniqueID when the source does not list this
	// node's address (yet: a pod is listed once it runs).
	ErrLocalNotListed = errors.New("cloud: local address not listed")
)

// Config configures a Service. Fields left zero take their value from the environment
// variables Tomcat reads (LookupEnv), then from the defaults: an explicit field always
// wins.
type Config struct {
	// Provider is ProviderKubernetes or ProviderDNS (Tomcat: membershipProviderClassName,
	// default kubernetes). Ignored when Custom is set.
	Provider string
	// Custom, if set, is the source of members instead of a built-in provider.
	Custom Provider

	// ExpirationTime is how long a member stays after its last listing (Tomcat:
	// expirationTime, default 5000 ms). The source is asked on every channel heartbeat
	// (5 s), so a member survives one failed fetch only if ExpirationTime is longer than
	// the heartbeat interval.
	ExpirationTime time.Duration
	// ConnectTimeout bounds connecting to the Kubernetes API; ReadTimeout is how long the
	// API may then stay silent, before its answer or between two reads of it, as a
	// socket read timeout (Tomcat: connectTimeout, readTimeout, default 1000 ms each).
	// A pod list that keeps coming is read however long it takes, within FetchTimeout
	// (TestKubernetesReadTimeoutIsPerRead). A DNS lookup is bounded by both together.
	ConnectTimeout, ReadTimeout time.Duration
	// FetchTimeout bounds a whole fetch (default DefaultFetchTimeout, 10 s, or
	// ConnectTimeout + ReadTimeout if longer; no Tomcat equivalent).
	FetchTimeout time.Duration

	// LocalIP is this node's address: the listed entry with this address (compared as an
	// address, so "fd00::1" matches Java's "fd00:0:0:0:0:0:0:1"; Tomcat compares the text)
	// is this node, not a member (Tomcat: InetAddress.getLocalHost(), the first address
	// of the host name). Default: the first address the host name resolves to (an IPv4
	// one if there is one).
	LocalIP string

	// Kubernetes configures ProviderKubernetes.
	Kubernetes KubernetesConfig
	// DNS configures ProviderDNS.
	DNS DNSConfig

	// MaxMembers is how many members are kept (0: DefaultMaxMembers; negative is an
	// ErrConfig, as are negative MaxResponseBytes and MaxPods).
	MaxMembers int

	// LookupEnv reads the environment (default os.LookupEnv). NoEnv ignores it.
	LookupEnv func(key string) (string, bool)
	// Logger receives fetch failures (rate limited) and membership changes. Nil discards.
	Logger *slog.Logger
}

// KubernetesConfig configures the Kubernetes provider. Each field names the environment
// variables that fill it when it is empty, first match wins, as Tomcat reads them.
type KubernetesConfig struct {
	// Protocol is "https" or "http" (OPENSHIFT_KUBE_PING_MASTER_PROTOCOL,
	// KUBERNETES_MASTER_PROTOCOL; default https).
	Protocol string
	// Host and Port locate the API server (OPENSHIFT_KUBE_PING_MASTER_HOST,
	// KUBERNETES_SERVICE_HOST; OPENSHIFT_KUBE_PING_MASTER_PORT, KUBERNETES_SERVICE_PORT).
	// Required.
	Host, Port string
	// Namespace whose pods are listed (OPENSHIFT_KUBE_PING_NAMESPACE, KUBERNETES_NAMESPACE;
	// default "tomcat").
	Namespace string
	// Labels is a label selector (OPENSHIFT_KUBE_PING_LABELS, KUBERNETES_LABELS; default
	// none: every pod of the namespace).
	Labels string
	// APIVersion (OPENSHIFT_KUBE_PING_API_VERSION, KUBERNETES_API_VERSION; default v1).
	APIVersion string
	// CACertFile holds the PEM certificates that sign the API server's certificate
	// (OPENSHIFT_KUBE_PING_CA_CERT_FILE, KUBERNETES_CA_CERTIFICATE_FILE; default the
	// service account's ca.crt). Read by New.
	CACertFile string
	// TokenFile holds the bearer token (OPENSHIFT_KUBE_PING_SA_TOKEN_FILE, SA_TOKEN_FILE;
	// default the service account's token). Read by New and again whenever its
	// modification time changes, as Tomcat does for projected tokens. A missing file
	// fails New with ErrConfig, but for the default file over plain HTTP (Protocol
	// "http"): requests then carry no token, as an API server reached through
	// kubectl proxy on loopback wants them.
	TokenFile string
	// ClientCertFile and ClientKeyFile authenticate with a client certificate instead of
	// a token (OPENSHIFT_KUBE_PING_CLIENT_CERT_FILE, KUBERNETES_CLIENT_CERTIFICATE_FILE;
	// KUBERNETES_CLIENT_KEY_FILE). The key must be an unencrypted PEM key: an encrypted
	// one (KUBERNETES_CLIENT_KEY_PASSWORD) is refused with ErrConfig.
	ClientCertFile, ClientKeyFile string

	// MaxResponseBytes and MaxPods limit the pod list (defaults DefaultMaxResponseBytes,
	// DefaultMaxPods): a larger answer fails the fetch with ErrTooLarge.
	MaxResponseBytes int64
	MaxPods          int

	// Transport, if set, replaces the HTTP transport built from the files above (tests,
	// proxies). Timeouts still apply; MaxResponseHeaderBytes does not (it is the built
	// transport's).
	Transport http.RoundTripper
}

// DNSConfig configures the DNS provider.
type DNSConfig struct {
	// ServiceName is resolved to the members' addresses (DNS_MEMBERSHIP_SERVICE_NAME;
	// default the namespace, as the Kubernetes provider finds it).
	ServiceName string
	// Resolver resolves it (default net.DefaultResolver), used as configured. Its Dial
	// should dial the network it is asked for: Go's resolver asks again over TCP after
	// a truncated UDP answer (a name with more than about 75 IPv4 addresses), and takes
	// what that attempt answers as it is, so that a Dial dialing UDP whatever it is
	// asked gives those 75 or so addresses, with no error: the provider, which watches
	// the Dial's connections for the answer's truncated flag, logs a warning, once, then
	// rate-limited, and counts it (Stats.TruncatedAnswers; TestDNSTruncatedAnswerIsLogged).
	// It is read at each fetch, as a resolver used directly: a change of its fields
	// between two fetches applies to the next (TestDNSFollowsTheResolverAfterNew).
	Resolver *net.Resolver
	// ListedOnly keeps the members to the addresses ServiceName resolves to: a message
	// from another sender does not make it a member, and a channel's sender check
	// (channel.Config.AcceptNonMembers false) refuses it. False, the default, is
	// Tomcat's: any sender becomes a member at its first message (for DNS caches lagging
	// behind new nodes), so that anyone who reaches the receiver port passes every member
	// check (docs/security.md). With it, a new node is a member once the name lists it.
	ListedOnly bool
}

// NoEnv is a Config.LookupEnv that finds no variable.
func NoEnv(string) (string, bool) { return "", false }

// lookup returns the value of the first variable of keys that is set (even to the empty
// string, as Tomcat's getEnv).
func lookup(env func(string) (string, bool), keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := env(k); ok {
			return v, true
		}
	}
	return "", false
}

// fill sets *dst from the environment, then from def, if it is empty.
func fill(dst *string, env func(string) (string, bool), def string, keys ...string) {
	if *dst != "" {
		return
	}
	if v, ok := lookup(env, keys...); ok && v != "" {
		*dst = v
		return
	}
	*dst = def
}

// Resolved returns the configuration New uses: explicit fields, then the environment,
// then the defaults. It reads no file and resolves no name: LocalIP stays empty if it
// was (New resolves the host name then).
func (c Config) Resolved() (Config, error) {
	env := c.LookupEnv
	if env == nil {
		env = os.LookupEnv
	}
	if c.Provider == "" {
		c.Provider = ProviderKubernetes
	}
	if c.Custom == nil && c.Provider != ProviderKubernetes && c.Provider != ProviderDNS {
		return c, fmt.Errorf("%w: unknown provider %q (want %q or %q)", ErrConfig, c.Provider, ProviderKubernetes, ProviderDNS)
	}
	if c.ExpirationTime == 0 {
		c.ExpirationTime = DefaultExpirationTime
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ExpirationTime < 0 || c.ConnectTimeout < 0 || c.ReadTimeout < 0 || c.FetchTimeout < 0 {
		return c, fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = max(DefaultFetchTimeout, c.ConnectTimeout+c.ReadTimeout)
	}
	if c.MaxMembers < 0 || c.Kubernetes.MaxResponseBytes < 0 || c.Kubernetes.MaxPods < 0 {
		return c, fmt.Errorf("%w: negative limit (MaxMembers %d, MaxResponseBytes %d, MaxPods %d)", ErrConfig,
			c.MaxMembers, c.Kubernetes.MaxResponseBytes, c.Kubernetes.MaxPods)
	}
	if c.MaxMembers == 0 {
		c.MaxMembers = DefaultMaxMembers
	}
	k := &c.Kubernetes
	fill(&k.Namespace, env, DefaultNamespace, CustomEnvPrefix+"NAMESPACE", "KUBERNETES_NAMESPACE")
	fill(&k.Protocol, env, DefaultProtocol, CustomEnvPrefix+"MASTER_PROTOCOL", "KUBERNETES_MASTER_PROTOCOL")
	fill(&k.Host, env, "", CustomEnvPrefix+"MASTER_HOST", "KUBERNETES_SERVICE_HOST")
	fill(&k.Port, env, "", CustomEnvPrefix+"MASTER_PORT", "KUBERNETES_SERVICE_PORT")
	fill(&k.Labels, env, "", CustomEnvPrefix+"LABELS", "KUBERNETES_LABELS")
	fill(&k.APIVersion, env, DefaultAPIVersion, CustomEnvPrefix+"API_VERSION", "KUBERNETES_API_VERSION")
	fill(&k.CACertFile, env, DefaultCACertFile, CustomEnvPrefix+"CA_CERT_FILE", "KUBERNETES_CA_CERTIFICATE_FILE")
	fill(&k.ClientCertFile, env, "", CustomEnvPrefix+"CLIENT_CERT_FILE", "KUBERNETES_CLIENT_CERTIFICATE_FILE")
	if k.ClientCertFile != "" {
		fill(&k.ClientKeyFile, env, "", "KUBERNETES_CLIENT_KEY_FILE")
		if v, ok := env("KUBERNETES_CLIENT_KEY_PASSWORD"); ok && v != "" {
			return c, fmt.Errorf("%w: encrypted client keys (KUBERNETES_CLIENT_KEY_PASSWORD) are not supported", ErrConfig)
		}
	} else {
		fill(&k.TokenFile, env, DefaultTokenFile, CustomEnvPrefix+"SA_TOKEN_FILE", "SA_TOKEN_FILE")
	}
	if k.MaxResponseBytes == 0 {
		k.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if k.MaxPods == 0 {
		k.MaxPods = DefaultMaxPods
	}
	fill(&c.DNS.ServiceName, env, k.Namespace, "DNS_MEMBERSHIP_SERVICE_NAME")
	if c.DNS.Resolver == nil {
		c.DNS.Resolver = net.DefaultResolver
	}
	if c.Custom == nil && c.Provider == ProviderKubernetes {
		if k.Host == "" || k.Port == "" {
			return c, fmt.Errorf("%w: no Kubernetes API address (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT)", ErrConfig)
		}
		if k.Protocol != "https" && k.Protocol != "http" {
			return c, fmt.Errorf("%w: protocol %q (want https or http)", ErrConfig, k.Protocol)
		}
		if k.ClientCertFile != "" && k.ClientKeyFile == "" {
			return c, fmt.Errorf("%w: client certificate without KUBERNETES_CLIENT_KEY_FILE", ErrConfig)
		}
	}
	return c, nil
}
