package delta_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// objectCounter counts session messages a channel receives as Java objects and as byte
// messages.
type objectCounter struct{ objects, bytes atomic.Int64 }

func (c *objectCounter) Accept(msg *channel.Message) bool {
	if (delta.JavaCodec{}).Owns(msg.Data) {
		if msg.Options&channel.OptByteMessage != 0 {
			c.bytes.Add(1)
		} else {
			c.objects.Add(1)
		}
	}
	return false
}

func (c *objectCounter) MessageReceived(*channel.Message) error { return nil }

// startJavaNode starts a node whose cluster speaks Tomcat's format.
func startJavaNode(t *testing.T, nw *channeltest.Network, route string) (*delta.Manager, *delta.Cluster, *objectCounter) {
	t.Helper()
	_, ch := newChannel(t, nw)
	cnt := &objectCounter{}
	remove := ch.AddMessageListener(cnt)
	t.Cleanup(remove)
	cl := newCluster(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{}})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: route, MemberWait: -1, Codec: delta.JavaValueCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m, cl, cnt
}

// TestJavaCodecCluster replicates sessions between Go nodes in Tomcat's format: every
// attribute kind, state transfer, id change and expiry, all sent as object messages.
func TestJavaCodecCluster(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, _, _ := startJavaNode(t, nw, "a")
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cart, err := jserial.NewObject(&jserial.ClassDesc{Name: "shop.Cart", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'I', Name: "items"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cart.SetField("items", int32(2)); err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"counter": 7, "long": int64(1) << 40, "s": "text", "flag": true, "f": 1.5,
		"bytes": []byte{1, 2}, "date": time.UnixMilli(1700000000000).UTC(),
		"list": []any{"a", 1}, "map": map[string]any{"k": "v", "n": int64(2)},
		"set": &jserial.Set{Class: jserial.LinkedHashSet, Elems: []any{"x", 3}}, "cart": cart,
	}
	for k, v := range values {
		if err := s.Set(k, v); err != nil {
			t.Fatalf("Set %s: %v", k, err)
		}
	}
	if err := s.SetPrincipal(&delta.Principal{Name: "alice", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	var ve *delta.ValueError
	if err := s.Set("bad", struct{ X int }{1}); !errors.As(err, &ve) || !errors.Is(err, delta.ErrNoJavaForm) {
		t.Fatalf("Set of a struct: %v", err)
	}
	if err := s.Set("big", 1<<40); !errors.Is(err, delta.ErrNoJavaForm) {
		t.Fatalf("Set of an int beyond Integer: %v", err)
	}
	// The other examples docs/tomcat.md gives of values without a Java form.
	for name, v := range map[string]any{"uint": uint(1), "map[string]int": map[string]int{"a": 1}} {
		if err := s.Set("bad", v); !errors.As(err, &ve) || !errors.Is(err, delta.ErrNoJavaForm) {
			t.Fatalf("Set of a %s: %v", name, err)
		}
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}

	// A joining node gets the session by state transfer, in DeltaSession's layout.
	b, _, cntB := startJavaNode(t, nw, "b")
	sb := b.Find(s.ID())
	if sb == nil {
		t.Fatal("the joiner did not receive the session")
	}
	for k, want := range values {
		got, _ := sb.Get(k)
		if !sameValue(got, want) {
			t.Errorf("%s: got %#v, want %#v", k, got, want)
		}
	}
	if n, ok := delta.Attr[int](sb, "counter"); !ok || n != 7 {
		t.Errorf("Attr[int] counter = %d, %v", n, ok)
	}
	if p := sb.Principal(); p == nil || p.Name != "alice" || !p.HasRole("admin") {
		t.Errorf("principal %+v", p)
	}

	// Deltas, an id change and an invalidation reach the other node.
	if err := s.Set("counter", 8); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 5*time.Second, "counter 8 on b", func() bool {
		n, _ := delta.Attr[int](b.Find(s.ID()), "counter")
		return n == 8
	})
	newID, err := a.ChangeSessionID(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 5*time.Second, "new id on b", func() bool { return b.Find(newID) != nil })
	if err := a.Invalidate(ctx, s); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 5*time.Second, "session gone on b", func() bool { return b.Len() == 0 })
	if cntB.bytes.Load() != 0 || cntB.objects.Load() == 0 {
		t.Errorf("b received %d object and %d byte session messages; want only objects", cntB.objects.Load(), cntB.bytes.Load())
	}
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case []byte:
		g, ok := got.([]byte)
		return ok && slices.Equal(g, w)
	case []any:
		g, ok := got.([]any)
		return ok && slices.Equal(g, w)
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if g[k] != v {
				return false
			}
		}
		return true
	case *jserial.Set:
		g, ok := got.(*jserial.Set)
		return ok && g.Class == w.Class && slices.Equal(g.Elems, w.Elems)
	case *jserial.Object:
		g, ok := got.(*jserial.Object)
		if !ok {
			return false
		}
		gb, err1 := jserial.Marshal(g)
		wb, err2 := jserial.Marshal(w)
		return err1 == nil && err2 == nil && string(gb) == string(wb)
	}
	return got == want
}

// TestJavaCodecHostileMessage sends a node streams that claim to be SessionMessageImpl
// but are broken: each is refused and counted, and no session changes.
func TestJavaCodecHostileMessage(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, cl, _ := startJavaNode(t, nw, "a")
	_, ch := newChannel(t, nw)
	testutil.EventuallyTrue(t, 5*time.Second, "the sender is a member", func() bool { return len(ch.Members()) == 1 })
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good, err := delta.JavaCodec{}.AppendMessage(nil, &delta.Message{Event: delta.EventExpired, Context: appName,
		SessionID: s.ID(), Timestamp: 1})
	if err != nil {
		t.Fatal(err)
	}
	hostile := [][]byte{
		good[:len(good)-3],                         // truncated
		append(append([]byte(nil), good...), 0x70), // trailing data
		append(append([]byte(nil), good[:len(good)/2]...), bytes.Repeat([]byte{0x73, 0x72}, 200)...), // garbage objects
	}
	for _, data := range hostile {
		if err := ch.SendMessage(ctx, nil, &channel.Message{Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, 5*time.Second, "malformed messages counted", func() bool {
		return cl.Stats().Malformed == uint64(len(hostile))
	})
	if a.Find(s.ID()) == nil {
		t.Fatal("a malformed message removed the session")
	}
}
