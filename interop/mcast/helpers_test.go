package mcastinterop_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	code := m.Run()
	netbench.Cleanup()
	if code == 0 {
		if err := goleak.Find(
			testutil.IgnoreGnetPool()...,
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// goNode is an in-process Go node on loopback: nio transport and multicast membership.
type goNode struct {
	ch  *channel.Channel
	mu  sync.Mutex
	evs []memberEvent
	msg []*channel.Message
}

type memberEvent struct {
	added bool
	m     channel.Member
	at    time.Time
}

type goOpts struct {
	group   string
	port    int
	domain  string
	payload []byte
	ics     []channel.Interceptor
	static  bool // no multicast: an empty static membership (the interceptors add members)
	id      channel.UniqueID
	tcpPort int
}

func startGo(t *testing.T, o goOpts) *goNode {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port = o.tcpPort
	if o.tcpPort != 0 {
		tcfg.AutoBind = 1
	}
	cfg := node.Config{Transport: &tcfg, Domain: []byte(o.domain), Payload: o.payload, Above: o.ics, UniqueID: o.id}
	if !o.static {
		mc := mcast.DefaultLocalConfig()
		mc.Address, mc.Port, mc.JoinWait = o.group, o.port, -1
		cfg.Multicast = &mc
	}
	n := &goNode{}
	var err error
	if n.ch, err = node.New(cfg); err != nil {
		t.Fatal(err)
	}
	n.ch.AddMembershipListener(channel.MembershipFuncs{
		Added:       func(m channel.Member) { n.record(memberEvent{added: true, m: m, at: time.Now()}) },
		Disappeared: func(m channel.Member) { n.record(memberEvent{m: m, at: time.Now()}) },
	})
	n.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.msg = append(n.msg, m)
		return nil
	}))
	if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *goNode) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func (n *goNode) record(e memberEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.evs = append(n.evs, e)
}

// event returns the first event about the member with id hex idHex.
func (n *goNode) event(added bool, idHex string) (memberEvent, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, e := range n.evs {
		if e.added == added && e.m.UniqueID.String() == idHex {
			return e, true
		}
	}
	return memberEvent{}, false
}

func (n *goNode) messages() []*channel.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*channel.Message(nil), n.msg...)
}

func (n *goNode) idHex() string { return n.ch.LocalMember().UniqueID.String() }

// member is "host:port:idhex", as the Java peer's commands take it.
func (n *goNode) member() string { return wire.FormatMemberText(n.ch.LocalMember()) }
