package staticsvc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestConfigLimitsRefuseAMemberMessage: the service's rpc.Channel decoded the member
// messages (START, PING and their replies, which anyone who reaches the receiver port
// may send) with rpc's default limits whatever the application needed. Config.Limits
// bounds them now: a node whose Limits allow 2 handles (a member message holds more)
// refuses B's START, so that it does not list B and B, unanswered, does not list it,
// while a node with the defaults answers it; negative Limits are refused by New.
func TestConfigLimitsRefuseAMemberMessage(t *testing.T) {
	if _, err := staticsvc.New(staticsvc.Config{Limits: jserial.DecoderConfig{MaxDepth: -1}}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("New with a negative MaxDepth: %v, want ErrInvalidConfig", err)
	}
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	list := members(t, p[0], p[1], p[2])
	cfg := staticsvc.Config{Members: list, ExpirationTime: time.Hour, PingInterval: time.Hour, RPCTimeout: 2 * time.Second}
	strict := cfg
	strict.Limits = jserial.DecoderConfig{MaxHandles: 2}
	a := newNode(t, p[0], strict)
	b := newNode(t, p[1], cfg)
	c := newNode(t, p[2], cfg)
	for _, n := range []*node{a, c, b} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	// B's START was answered by C before B's Start returned (RPCTimeout): C decoded it.
	if !c.has(p[1]) || !b.has(p[2]) {
		t.Fatalf("views after start: c %v, b %v; want c and b listing each other", c.ch.Members(), b.ch.Members())
	}
	if a.has(p[1]) || b.has(p[0]) {
		t.Errorf("a, whose Limits allow 2 handles, lists %v and b lists %v: b's START to a was decoded",
			a.ch.Members(), b.ch.Members())
	}
}
