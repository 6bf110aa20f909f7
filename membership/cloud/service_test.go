package cloud

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
	"github.com/gotribes/tribes/internal/testutil"
)

func localMember(ip string, port int32, id [16]byte) channel.Member {
	return newMember(netip.MustParseAddr(ip), port, id, 0)
}

// TestServiceKubernetes: over the recorded pod list (its pods moved to loopback
// addresses), the service finds itself, lists the other pod with Tomcat's id, the local
// port and an alive time from its creation, and drops it ExpirationTime after the list
// stopped naming it.
func TestServiceKubernetes(t *testing.T) {
	api := newAPIServer(t, withAddresses(recorded(t), "127.0.0.1", "127.0.0.2"))
	cfg := api.config()
	cfg.ExpirationTime = 100 * time.Millisecond
	var health []error
	var hmu sync.Mutex
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetHealthFunc(func(err error) { hmu.Lock(); health = append(health, err); hmu.Unlock() })
	id, err := s.LocalUniqueID(context.Background())
	if err != nil || id != md5Of(pod1UID) {
		t.Fatalf("LocalUniqueID = %x, %v; want the digest of the first pod's uid", id, err)
	}
	rec := &recorder{}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, id), rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	ms := s.Members()
	if len(ms) != 1 {
		t.Fatalf("members %v", ms)
	}
	m := ms[0]
	if m.IP() != netip.MustParseAddr("127.0.0.2") || m.Port != 4000 || m.UniqueID != md5Of(pod2UID) ||
		m.SecurePort != -1 || m.UDPPort != -1 {
		t.Errorf("member %+v", m)
	}
	created := time.Date(2018, 10, 10, 13, 4, 51, 0, time.UTC)
	if age := time.Duration(m.AliveTime) * time.Millisecond; age < time.Since(created)-time.Hour || age > time.Since(created) {
		t.Errorf("alive time %v, want about %v", age, time.Since(created))
	}
	if got, ok := s.Member(m.Key()); !ok || !got.Equal(m) {
		t.Errorf("Member(%v) = %v, %v", m, got, ok)
	}
	if got, ok := s.ListedLocalID(); !ok || got != id {
		t.Errorf("ListedLocalID = %x, %v", got, ok)
	}

	// The second pod stops running: it expires.
	api.setDoc(editPods(t, withAddresses(recorded(t), "127.0.0.1", "127.0.0.2"), func(items []any) []any {
		items[1].(map[string]any)["status"].(map[string]any)["phase"] = "Succeeded"
		return items
	}))
	waitMembers(t, s)
	if got := rec.get(); !slices.Equal(got, []string{"+" + m.String(), "-" + m.String()}) {
		t.Errorf("events %v", got)
	}

	// The API fails: reported to the health function, then the recovery.
	tok := "other"
	api.token.Store(&tok)
	s.Heartbeat()
	api.token.Store(ptr("recorded-test-token"))
	s.Heartbeat()
	hmu.Lock()
	defer hmu.Unlock()
	if len(health) != 2 || !errors.Is(health[0], ErrFetch) || health[1] != nil {
		t.Errorf("health reports %v", health)
	}
}

func ptr[T any](v T) *T { return &v }

// TestServiceLocalNotListed: a node whose address the pod list does not hold gets
// ErrLocalNotListed from LocalUniqueID and sees every running pod as a member.
func TestServiceLocalNotListed(t *testing.T) {
	api := newAPIServer(t, withAddresses(recorded(t), "127.0.0.2", "127.0.0.3"))
	s, err := New(api.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LocalUniqueID(context.Background()); !errors.Is(err, ErrLocalNotListed) {
		t.Fatalf("err = %v", err)
	}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, [16]byte{1}), &recorder{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	if n := len(s.Members()); n != 2 {
		t.Errorf("%d members, want 2", n)
	}
}

// TestServiceMemberLimit: beyond MaxMembers, listed addresses are ignored.
func TestServiceMemberLimit(t *testing.T) {
	api := newAPIServer(t, withAddresses(recorded(t), "127.0.0.2", "127.0.0.3"))
	cfg := api.config()
	cfg.MaxMembers = 1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := s.Start(context.Background(), channel.SvcMembership, localMember("127.0.0.1", 4000, [16]byte{1}), rec); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Members()); n != 1 {
		t.Errorf("%d members, want 1", n)
	}
	if err := s.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	if got := rec.get(); len(got) != 2 || got[0][0] != '+' || got[1][0] != '-' {
		t.Errorf("events %v, want one added, then gone at Stop", got)
	}
}

// TestUnknownSenderBecomesMember: with the DNS provider, a message from an address the
// name does not resolve to makes its sender a member, with Tomcat's id for it.
func TestUnknownSenderBecomesMember(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	cfg := Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	local := localMember("127.0.0.1", 4000, AddressUniqueID(netip.MustParseAddr("127.0.0.1")))
	if err := s.Start(context.Background(), channel.SvcMembership, local, rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	w := senderWatcher{s}
	src := localMember("10.1.2.3", 4001, [16]byte{9})
	if w.Accept(&channel.Message{Source: src}) || w.AcceptNonMember(&channel.Message{Source: src}) {
		t.Error("the watcher accepted a message")
	}
	ms := s.Members()
	if len(ms) != 1 || ms[0].Port != 4001 || ms[0].IP() != netip.MustParseAddr("10.1.2.3") ||
		ms[0].UniqueID != md5Of("10.1.2.3") || ms[0].AliveTime != -1 {
		t.Fatalf("members %v", ms)
	}
	// Its event goes up on a goroutine of the service (TestSenderEventLeavesTheReceivePath).
	testutil.EventuallyTrue(t, testutil.WaitLimit, "one event", func() bool { return len(rec.get()) == 1 })
	// IPv6 senders get the digest of their sixteen bytes in decimal, as in Tomcat.
	if id := senderUniqueID(netip.MustParseAddr("::1").AsSlice()); id != md5Of("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1") {
		t.Errorf("IPv6 sender id %x", id)
	}
}

// TestSenderAtLocalAddressIsNotAMember: with the DNS provider, a message whose
// source names this node's own address and port (with any id but the local one: a
// stranger, or a stale incarnation of this node) must not make this node a member of
// itself. MembershipService.Members is "never the local one", apply skips a listing at
// the local address for this reason, and Tomcat's Membership.memberAlive ignores a
// member equal to the local one (for IPv4 the id Tomcat derives for the sender is the
// local member's own id).
func TestSenderAtLocalAddressIsNotAMember(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	cfg := Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.LocalUniqueID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	local := localMember("127.0.0.1", 4000, id)
	if err := s.Start(context.Background(), channel.SvcMembership, local, rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	if n := len(s.Members()); n != 0 {
		t.Fatalf("%d members before the message, want 0", n)
	}

	// A message claiming to come from this node's address and port, with another id.
	forged := localMember("127.0.0.1", 4000, [16]byte{0xee})
	senderWatcher{s}.AcceptNonMember(&channel.Message{Source: forged})

	for _, m := range s.Members() {
		if m.IP() == local.IP() && m.Port == local.Port {
			t.Errorf("Members() lists this node's own address: %v (local %v, same key: %v)", m, local, m.Key() == local.Key())
		}
	}
	if _, ok := s.Member(local.Key()); ok {
		t.Errorf("Member(local key) found: the node is a member of itself")
	}
	if ev := rec.get(); len(ev) != 0 {
		t.Errorf("events %v, want none", ev)
	}
}

func TestJavaHostAddress(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":          "10.0.0.1",
		"::ffff:10.0.0.1":   "10.0.0.1",
		"::1":               "0:0:0:0:0:0:0:1",
		"fe80::a:0b0c":      "fe80:0:0:0:0:0:a:b0c",
		"2001:db8::ff00:42": "2001:db8:0:0:0:0:ff00:42",
	} {
		if got := JavaHostAddress(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestSameIP(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"10.0.0.1", "10.0.0.1", true},
		{"fd00::1", "fd00:0:0:0:0:0:0:1", true},
		{"::ffff:10.0.0.1", "10.0.0.1", true},
		{"10.0.0.1", "10.0.0.2", false},
		{"pod-a", "pod-a", true},
		{"pod-a", "10.0.0.1", false},
	} {
		if got := sameIP(tc.a, tc.b); got != tc.want {
			t.Errorf("sameIP(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestUnknownSenderListedUnderDerivedID: with the DNS provider, an unlisted sender is a
// member under the id Tomcat derives from its address, not under the id its messages
// carry. The channel's sender check looks a sender up by the key of its messages (address,
// port, id), so it finds the member only when the two ids agree: an IPv4 sender
// advertising the digest of its address (a Go node's LocalUniqueID). A sender with
// another id (here: any id; an IPv6 Go node's LocalUniqueID, whose derived id is the
// digest of its bytes in decimal) is not found under its own key.
func TestUnknownSenderListedUnderDerivedID(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	s, err := New(Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1",
		DNS: DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()}})
	if err != nil {
		t.Fatal(err)
	}
	local := localMember("127.0.0.1", 4000, AddressUniqueID(netip.MustParseAddr("127.0.0.1")))
	if err := s.Start(context.Background(), channel.SvcMembership, local, &recorder{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	for _, tc := range []struct {
		name  string
		src   channel.Member
		found bool
	}{
		{"IPv4, the derived id", localMember("10.1.2.3", 4000, AddressUniqueID(netip.MustParseAddr("10.1.2.3"))), true},
		{"IPv4, another id", localMember("10.1.2.4", 4000, [16]byte{9}), false},
		{"IPv4, a zero id (a Java node not listed yet)", localMember("10.1.2.5", 4000, [16]byte{}), false},
		{"IPv6, LocalUniqueID", localMember("fd00::5", 4000, AddressUniqueID(netip.MustParseAddr("fd00::5"))), false},
	} {
		senderWatcher{s}.AcceptNonMember(&channel.Message{Source: tc.src})
		if _, ok := s.Member(tc.src.Key()); ok != tc.found {
			t.Errorf("%s: found under the sender's own key %v, want %v", tc.name, ok, tc.found)
		}
		derived := tc.src
		derived.UniqueID = senderUniqueID(tc.src.Host)
		if _, ok := s.Member(derived.Key()); !ok {
			t.Errorf("%s: not a member under the derived id", tc.name)
		}
	}
}
