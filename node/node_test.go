package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/dnsmasq"
	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/nodetest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/cloud"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, // gnet's global worker pool lives as long as the process
		testutil.IgnoreGnetPool()...)
}

func start(t *testing.T, cfg node.Config) *channel.Channel {
	t.Helper()
	return nodetest.Start(t, cfg)
}

func TestDefaults(t *testing.T) {
	ch, err := node.New(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tc := ch.Transport().(*nio.Transport).Config()
	if def := nio.DefaultConfig(); tc.Address != def.Address || tc.Port != def.Port || tc.AutoBind != def.AutoBind {
		t.Fatalf("transport %s:%d autobind %d, want nio.DefaultConfig", tc.Address, tc.Port, tc.AutoBind)
	}
	if _, ok := ch.Membership().(*static.Service); !ok {
		t.Fatalf("membership %T, want static", ch.Membership())
	}
	if n := len(ch.Interceptors()); n != 0 {
		t.Fatalf("%d interceptors", n)
	}
}

func TestStackOrder(t *testing.T) {
	above, below := &channel.InterceptorBase{}, &channel.InterceptorBase{}
	ch, err := node.New(node.Config{Interceptors: "order, ping, tcpfailure", Above: []channel.Interceptor{above},
		Below: []channel.Interceptor{below}})
	if err != nil {
		t.Fatal(err)
	}
	ics := ch.Interceptors()
	if len(ics) != 5 || ics[0] != above || ics[4] != below {
		t.Fatalf("stack %T", ics)
	}
	if _, ok := ics[1].(*interceptors.Order); !ok {
		t.Fatalf("second %T, want the spec's first", ics[1])
	}
	if _, ok := ics[3].(*interceptors.TCPFailureDetector); !ok {
		t.Fatalf("fourth %T, want the spec's last", ics[3])
	}
}

func TestConfigErrors(t *testing.T) {
	mc := mcast.DefaultLocalConfig()
	for name, cfg := range map[string]node.Config{
		"unknown interceptor":  {Interceptors: "nosuch"},
		"bad property":         {Interceptors: "gzip(level=42)"},
		"static and multicast": {Multicast: &mc, StaticMembers: []channel.Member{{Port: 4000}}},
		"bad transport":        {Transport: &nio.Config{AutoBind: -1}},
	} {
		if _, err := node.New(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// Two nodes find each other over multicast on loopback and the stack from text runs.
func TestMulticast(t *testing.T) {
	group, port := netbench.Group(t.Name())
	mc := mcast.DefaultLocalConfig()
	mc.Address, mc.Port, mc.Frequency, mc.JoinWait = group, port, 100*time.Millisecond, -1
	cfg := node.Config{Transport: &nio.Config{Address: "127.0.0.1"}, Multicast: &mc, Interceptors: "order,gzip"}
	a, b := start(t, cfg), start(t, cfg)
	if _, ok := a.Membership().(*mcast.Service); !ok {
		t.Fatalf("membership %T, want multicast", a.Membership())
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if na, nb := len(a.Members()), len(b.Members()); na != 1 || nb != 1 {
			return fmt.Errorf("members: a %d, b %d", na, nb)
		}
		return nil
	})
	got := make(chan string, 1)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- string(m.Data)
		return nil
	}))
	if err := a.Send(context.Background(), a.Members(), []byte("over multicast"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "over multicast" {
		t.Fatalf("received %q", s)
	}
}

// listing is a cloud membership source that lists fixed addresses, ids from the address.
type listing []string

func (l listing) Fetch(context.Context) ([]cloud.Instance, error) {
	var out []cloud.Instance
	for _, ip := range l {
		out = append(out, cloud.Instance{IP: ip, UniqueID: cloud.AddressUniqueID(netip.MustParseAddr(ip))})
	}
	return out, nil
}

// TestCloudMembership: with Cloud set, the node's id is the one the source gives its
// address, and the source's other entries are members; Cloud excludes the other kinds
// and a source that does not list the node fails New.
func TestCloudMembership(t *testing.T) {
	cc := &cloud.Config{LookupEnv: cloud.NoEnv, LocalIP: "127.0.0.1", Custom: listing{"127.0.0.1", "127.0.0.3"}}
	ch := start(t, node.Config{Cloud: cc})
	if id := ch.LocalMember().UniqueID; id != cloud.AddressUniqueID(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("local id %v", id)
	}
	ms := ch.Members()
	if len(ms) != 1 || ms[0].IP() != netip.MustParseAddr("127.0.0.3") || ms[0].Port != ch.LocalMember().Port {
		t.Errorf("members %v", ms)
	}
	if _, err := node.New(node.Config{Cloud: cc, Multicast: &mcast.Config{}}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("cloud and multicast: err = %v", err)
	}
	other := *cc
	other.Custom = listing{"127.0.0.3"}
	if _, err := node.New(node.Config{Cloud: &other}); !errors.Is(err, cloud.ErrLocalNotListed) {
		t.Errorf("not listed: err = %v", err)
	}
}

// TestCloudBadLocalIPIsConfigError: New's configuration errors wrap
// channel.ErrInvalidConfig. A DNS cloud membership whose LocalIP is not an address is
// one (the error wraps cloud.ErrConfig), found only when New asks the source for the
// node's id; it must wrap channel.ErrInvalidConfig as cloud.New's ErrConfig does.
func TestCloudBadLocalIPIsConfigError(t *testing.T) {
	_, err := node.New(node.Config{Cloud: &cloud.Config{Provider: cloud.ProviderDNS, LookupEnv: cloud.NoEnv,
		LocalIP: "not-an-address", DNS: cloud.DNSConfig{ServiceName: "tomcat-members"}}})
	if err == nil {
		t.Fatal("New accepted LocalIP \"not-an-address\"")
	}
	if !errors.Is(err, cloud.ErrConfig) {
		t.Fatalf("err = %v, want a configuration error (cloud.ErrConfig)", err)
	}
	if !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("err = %v wraps cloud.ErrConfig but not channel.ErrInvalidConfig", err)
	}
}

// TestCloudDNSUnknownSender: with the DNS provider, a node whose records leave out
// another learns of it from its first message, as Tomcat's DNSMembershipProvider does:
// the sender becomes a member with the id it advertises (the digest of its address).
// Unless AcceptNonMembers is set, that first message is dropped by the sender check,
// which answers FAIL_ACK to a synchronized-ack sender; nio's retry (MaxRetryAttempts,
// default 1) then delivers it.
func TestCloudDNSUnknownSender(t *testing.T) {
	for _, acceptNonMembers := range []bool{false, true} {
		t.Run(fmt.Sprintf("AcceptNonMembers=%v", acceptNonMembers), func(t *testing.T) {
			dns := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n") // lists a only
			port := freePortOnBoth(t, "127.0.0.1", "127.0.0.2")
			nodeAt := func(ip string) *channel.Channel {
				tcfg := nio.DefaultConfig()
				tcfg.Address, tcfg.Port, tcfg.AutoBind = ip, port, 1
				return start(t, node.Config{Transport: &tcfg, AcceptNonMembers: acceptNonMembers, Cloud: &cloud.Config{
					Provider: cloud.ProviderDNS, LookupEnv: cloud.NoEnv, LocalIP: ip,
					DNS: cloud.DNSConfig{ServiceName: "tomcat-members", Resolver: dns.Resolver()}}})
			}
			a, b := nodeAt("127.0.0.1"), nodeAt("127.0.0.2")
			if n := len(a.Members()); n != 0 {
				t.Fatalf("a lists %d members before b's message", n)
			}
			got := make(chan string, 2)
			a.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
				got <- string(m.Data)
				return nil
			}))
			ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
			defer cancel()
			err := b.Send(ctx, b.Members(), []byte("first"), channel.OptUseAck|channel.OptSyncAck)
			if err != nil {
				t.Fatalf("first send: %v", err)
			}
			if dropped := a.Stats().NonMemberDropped; (dropped == 1) != !acceptNonMembers {
				t.Errorf("a dropped %d messages as a non-member's", dropped)
			}
			ms := a.Members()
			if len(ms) != 1 || ms[0].Key() != b.LocalMember().Key() {
				t.Fatalf("a lists %v, b is %v", ms, b.LocalMember())
			}
			if err := b.Send(ctx, b.Members(), []byte("second"), channel.OptUseAck|channel.OptSyncAck); err != nil {
				t.Fatalf("second send: %v", err)
			}
			for _, w := range []string{"first", "second"} {
				if m := <-got; m != w {
					t.Errorf("delivered %q, want %q", m, w)
				}
			}
		})
	}
}

// freePortOnBoth returns a TCP port free on both addresses, reserved until the test ends
// (internal/freeport).
func freePortOnBoth(t *testing.T, ip1, ip2 string) int {
	t.Helper()
	ports, release, err := freeport.Pick(1, freeport.TCP, ip1, ip2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return ports[0]
}
