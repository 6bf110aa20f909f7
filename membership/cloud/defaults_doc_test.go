package cloud

import (
	"net"
	"testing"
	"time"
)

// The defaults docs/membership.md gives for cloud membership, as literal values rather
// than the constants (TestConfigFromEnvironment compares with those), so that a changed
// constant fails here until the document follows: the Kubernetes provider, namespace
// "tomcat", protocol https, API version v1, ExpirationTime 5000 ms, ConnectTimeout and
// ReadTimeout 1000 ms each, FetchTimeout 10 s, MaxResponseBytes 32 MiB, MaxPods 10000,
// MaxMembers 1024, and for DNS net.DefaultResolver and the namespace as the name.
func TestDefaultsAsDocumented(t *testing.T) {
	c, err := Config{LookupEnv: NoEnv, Kubernetes: KubernetesConfig{Host: "h", Port: "1"}}.Resolved()
	if err != nil {
		t.Fatal(err)
	}
	k := c.Kubernetes
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Provider", c.Provider, ProviderKubernetes},
		{"Namespace", k.Namespace, "tomcat"},
		{"Protocol", k.Protocol, "https"},
		{"APIVersion", k.APIVersion, "v1"},
		{"ExpirationTime", c.ExpirationTime, 5000 * time.Millisecond},
		{"ConnectTimeout", c.ConnectTimeout, 1000 * time.Millisecond},
		{"ReadTimeout", c.ReadTimeout, 1000 * time.Millisecond},
		{"FetchTimeout", c.FetchTimeout, 10 * time.Second},
		{"MaxResponseBytes", k.MaxResponseBytes, int64(32 << 20)},
		{"MaxPods", k.MaxPods, 10000},
		{"MaxMembers", c.MaxMembers, 1024},
		{"DNS.Resolver", c.DNS.Resolver, net.DefaultResolver},
		{"DNS.ServiceName", c.DNS.ServiceName, "tomcat"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v (%T), documented %v (%T)", f.name, f.got, f.got, f.want, f.want)
		}
	}
}
