package delta_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// javaRenames records the EVT_CHANGE_SESSION_ID messages a channel receives in Tomcat's
// format, as "old->new".
type javaRenames struct {
	mu  sync.Mutex
	got []string
}

func (r *javaRenames) Accept(msg *channel.Message) bool {
	if m, err := (delta.JavaCodec{}).DecodeMessage(msg.Data); err == nil && m.Event == delta.EventChangeSessionID {
		r.mu.Lock()
		r.got = append(r.got, m.SessionID+"->"+m.NewID)
		r.mu.Unlock()
	}
	return false
}

func (r *javaRenames) MessageReceived(*channel.Message) error { return nil }

func (r *javaRenames) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// TestJavaCodecMemberFollowsMissedRenamesInOneMessage: in Tomcat's format, B missed nine
// renames of a session; once reachable it gets one EVT_CHANGE_SESSION_ID, from the first
// id to the current one (what a Tomcat node's handleCHANGE_SESSION_ID renames by the old
// id), and holds the session under the current id alone.
func TestJavaCodecMemberFollowsMissedRenamesInOneMessage(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	d := &droppingChannel{Channel: ach}
	a := readyManager(t, d, delta.JavaCodec{}, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked, Codec: delta.JavaValueCodec{}})
	_, bch := newChannel(t, nw)
	bm := readyManager(t, bch, delta.JavaCodec{}, delta.Config{JvmRoute: "b", Codec: delta.JavaValueCodec{}})
	b := &node{m: bm, ch: bch}
	s := delta.CreateReplicated(t, a, "user", "ann")
	first := s.ID()
	if bm.Find(first) == nil {
		t.Fatal("B holds no copy of the session")
	}
	for range 9 {
		renameMissing(t, a, d, s, "B", b)
	}
	d.drop.Store(nil)
	rec := &javaRenames{}
	t.Cleanup(bch.AddMessageListener(rec))
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.take(), []string{first + "->" + s.ID()}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("B got the renames %v, want %v", got, want)
	}
	checkRenamed(t, "B", bm, first, s.ID())
	if n := bm.Len(); n != 1 {
		t.Errorf("B holds %d sessions, want 1", n)
	}
}
