package cloud

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
)

// TestServiceDNS: the DNS provider resolves the name with a real DNS server (dnsmasq);
// every address but the local one is a member with the digest of its address as id and
// no alive time, and the members follow the records when they change.
func TestServiceDNS(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n127.0.0.5 tomcat-members\n127.0.0.6 tomcat-members\n127.0.0.9 other\n")
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", ExpirationTime: 100 * time.Millisecond,
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.LocalUniqueID(context.Background())
	if err != nil || id != md5Of("127.0.0.1") {
		t.Fatalf("LocalUniqueID %x, %v", id, err)
	}
	rec := &recorder{}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, id), rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	member := func(ip string) channel.Member {
		m := localMember(ip, 4000, md5Of(ip))
		m.AliveTime = -1
		return m
	}
	waitMembers(t, s, member("127.0.0.5"), member("127.0.0.6"))
	for _, m := range s.Members() {
		if m.AliveTime != -1 {
			t.Errorf("alive time %d, want -1", m.AliveTime)
		}
	}
	if got, ok := s.ListedLocalID(); !ok || got != id {
		t.Errorf("ListedLocalID %x, %v", got, ok)
	}

	d.Write(t, "127.0.0.1 tomcat-members\n127.0.0.5 tomcat-members\n127.0.0.7 tomcat-members\n")
	d.Reload(t)
	waitMembers(t, s, member("127.0.0.5"), member("127.0.0.7"))
	want := []string{"+" + member("127.0.0.5").String(), "+" + member("127.0.0.6").String(),
		"+" + member("127.0.0.7").String(), "-" + member("127.0.0.6").String()}
	got := rec.get()
	if len(got) != 4 || !sameSet(got[:2], want[:2]) || !sameSet(got[2:], want[2:]) {
		t.Errorf("events %v, want %v", got, want)
	}

	// The name stops resolving: every member expires.
	d.Write(t, "127.0.0.9 other\n")
	d.Reload(t)
	waitMembers(t, s)
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
