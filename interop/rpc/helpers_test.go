package rpcinterop_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

// rpcID is the rpc id every test node uses.
const rpcID = "interop-rpc"

// callTimeout bounds calls that must complete; calls expected to time out use stallTimeout.
const (
	callTimeout  = 30 * time.Second
	stallTimeout = 3 * time.Second
)

// startGo starts a Go channel on loopback with the nio transport and no members: calls and
// sends name their destinations, and the channel accepts messages from non-members.
func startGo(t testing.TB) *channel.Channel {
	t.Helper()
	cfg := nio.DefaultConfig()
	cfg.Port = 0
	// Listing no member, it takes messages from the test's Java peers all the same.
	ch, err := node.New(node.Config{Transport: &cfg, AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return ch
}

func memberText(ch *channel.Channel) string { return wire.FormatMemberText(ch.LocalMember()) }

func javaMember(t testing.TB, p *javapeer.Peer) channel.Member {
	t.Helper()
	m, err := p.ChannelMember()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// addRPC opens an rpc.Channel with id on ch; it is closed at cleanup.
func addRPC(t testing.TB, ch *channel.Channel, id string, h rpc.Handler, leftOver func(any, channel.Member)) *rpc.Channel {
	t.Helper()
	c, err := rpc.New(rpc.Config{Channel: ch, ID: []byte(id), Handler: h, LeftOver: leftOver})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// goAnswer answers a String s with "go:"+s and echoes every other value.
var goAnswer = rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
	if s, ok := msg.(string); ok {
		return "go:" + s, nil
	}
	return msg, nil
})

// leftOvers collects the left-over replies of an rpc.Channel.
type leftOvers struct {
	mu   sync.Mutex
	list []rpc.Response
}

func (l *leftOvers) add(msg any, from channel.Member) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, rpc.Response{Member: from, Message: msg})
}

// waitFor waits until a left-over msg from the member on port has arrived.
func (l *leftOvers) waitFor(t *testing.T, msg any, port int32) {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("left-over %v from port %d", msg, port), func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, r := range l.list {
			if r.Message == msg && r.Member.Port == port {
				return true
			}
		}
		return false
	})
}

// The values both sides exchange, and what Java's toString prints for them.
func testMap() *jserial.Map {
	m := &jserial.Map{Class: jserial.HashMap}
	m.Put("a", int32(1))
	m.Put("b", "two")
	return m
}

// valueDesc describes the peer's RpcPeer$Value: fields in Java's order (primitives first).
var valueDesc = &jserial.ClassDesc{Name: javapeer.ValueClass, SUID: 1, Flags: jserial.SCSerializable,
	Fields: []jserial.Field{{Type: 'I', Name: "count"}, {Type: 'L', Name: "name", Signature: "Ljava/lang/String;"}}}

func newValue(t testing.TB, name string) *jserial.Object {
	t.Helper()
	o, err := jserial.NewObject(valueDesc)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("name", name); err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("count", int32(len(name))); err != nil {
		t.Fatal(err)
	}
	return o
}

// checkValue checks a decoded RpcPeer$Value.
func checkValue(v any, name string) error {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class.Name != javapeer.ValueClass {
		return fmt.Errorf("got %#v, want a %s", v, javapeer.ValueClass)
	}
	n, _ := o.Field("name")
	c, _ := o.Field("count")
	if n != name || c != int32(len(name)) {
		return fmt.Errorf("%s fields name=%v count=%v, want %q and %d", o.Class.Name, n, c, name, len(name))
	}
	return nil
}

// checkMap checks a decoded HashMap {a=1, b=two}.
func checkMap(v any) error {
	m, ok := v.(*jserial.Map)
	if !ok || m.Class != jserial.HashMap {
		return fmt.Errorf("got %#v, want a HashMap", v)
	}
	a, _ := m.Get("a")
	b, _ := m.Get("b")
	if len(m.Entries) != 2 || a != int32(1) || b != "two" {
		return fmt.Errorf("map %v, want {a=1, b=two}", m.Entries)
	}
	return nil
}
