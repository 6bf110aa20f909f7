package cloud

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"

	"github.com/gotribes/tribes/internal/testenv"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestConfigFromEnvironment: Tomcat's variables fill what Config leaves empty, the
// OPENSHIFT_KUBE_PING_ ones first; explicit fields win; defaults last.
func TestConfigFromEnvironment(t *testing.T) {
	env := envMap(map[string]string{
		"KUBERNETES_SERVICE_HOST":             "10.0.0.1",
		"KUBERNETES_SERVICE_PORT":             "443",
		"KUBERNETES_NAMESPACE":                "shop",
		"OPENSHIFT_KUBE_PING_NAMESPACE":       "shop-os",
		"KUBERNETES_LABELS":                   "app=tomcat",
		"KUBERNETES_CA_CERTIFICATE_FILE":      "/ca",
		"SA_TOKEN_FILE":                       "/tok",
		"OPENSHIFT_KUBE_PING_MASTER_PROTOCOL": "http",
	})
	c, err := Config{LookupEnv: env, Kubernetes: KubernetesConfig{Labels: "app=explicit"}}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kubernetes
	if k.Host != "10.0.0.1" || k.Port != "443" || k.Namespace != "shop-os" || k.Labels != "app=explicit" ||
		k.CACertFile != "/ca" || k.TokenFile != "/tok" || k.Protocol != "http" || k.APIVersion != "v1" {
		t.Errorf("kubernetes %+v", k)
	}
	if c.Provider != ProviderKubernetes || c.ExpirationTime != DefaultExpirationTime ||
		c.ConnectTimeout != DefaultConnectTimeout || c.ReadTimeout != DefaultReadTimeout {
		t.Errorf("config %+v", c)
	}
	if c.DNS.ServiceName != "shop-os" {
		t.Errorf("DNS name %q, want the namespace", c.DNS.ServiceName)
	}
	c, err = Config{Provider: ProviderDNS, LookupEnv: envMap(map[string]string{
		"DNS_MEMBERSHIP_SERVICE_NAME": "tomcat-members", "KUBERNETES_NAMESPACE": ""})}.Resolved()
	if err != nil || c.DNS.ServiceName != "tomcat-members" || c.Kubernetes.Namespace != DefaultNamespace {
		t.Errorf("dns: %+v, %v", c, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"unknown provider": {Provider: "consul"},
		"no API address":   {},
		"bad protocol":     {Kubernetes: KubernetesConfig{Host: "h", Port: "1", Protocol: "ftp"}},
		"negative timeout": {Provider: ProviderDNS, ReadTimeout: -1},
		"encrypted key": {LookupEnv: envMap(map[string]string{"KUBERNETES_CLIENT_CERTIFICATE_FILE": "/c",
			"KUBERNETES_CLIENT_KEY_FILE": "/k", "KUBERNETES_CLIENT_KEY_PASSWORD": "secret"})},
	} {
		if c.LookupEnv == nil {
			c.LookupEnv = NoEnv
		}
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// Files that are missing are configuration errors of New.
	c := Config{LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		Kubernetes: KubernetesConfig{Host: "h", Port: "1", CACertFile: "/nonexistent/ca.crt"}}
	if _, err := New(c); !errors.Is(err, ErrConfig) {
		t.Errorf("missing CA: err = %v", err)
	}
}

// TestDefaultLocalIP: without LocalIP, this node's address is one of the host name's
// (IPv4 first), as Java's InetAddress.getLocalHost().getHostAddress().
func TestDefaultLocalIP(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", h)
	if err != nil {
		testenv.Missing(t, "the host name %s does not resolve here: %v", h, err)
		return
	}
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv})
	if err != nil {
		t.Fatal(err)
	}
	ip := s.Config().LocalIP
	found := false
	for _, a := range addrs {
		found = found || JavaHostAddress(a) == ip
	}
	if !found {
		t.Errorf("LocalIP %q is not an address of %s (%v)", ip, h, addrs)
	}
}

// TestConfigRefusesNegativeLimits: a negative limit is a configuration error, as a
// negative timeout is, not a limit that silently keeps no member (MaxMembers) or fails
// every fetch with ErrTooLarge (MaxResponseBytes); zero still means the default.
func TestConfigRefusesNegativeLimits(t *testing.T) {
	base := Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1"}
	for name, edit := range map[string]func(c *Config){
		"MaxMembers":       func(c *Config) { c.MaxMembers = -1 },
		"MaxResponseBytes": func(c *Config) { c.Kubernetes.MaxResponseBytes = -1 },
		"MaxPods":          func(c *Config) { c.Kubernetes.MaxPods = -1 },
	} {
		c := base
		edit(&c)
		if _, err := c.Resolved(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s negative: Resolved err = %v, want ErrConfig", name, err)
		}
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s negative: New err = %v, want ErrConfig", name, err)
		}
	}
	r, err := base.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxMembers != DefaultMaxMembers || r.Kubernetes.MaxResponseBytes != DefaultMaxResponseBytes ||
		r.Kubernetes.MaxPods != DefaultMaxPods {
		t.Errorf("zero limits resolved to %d, %d, %d, want the defaults", r.MaxMembers,
			r.Kubernetes.MaxResponseBytes, r.Kubernetes.MaxPods)
	}
}
