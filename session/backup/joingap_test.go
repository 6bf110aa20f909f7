package backup_test

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// holdState is a joiner's interceptor that holds the map's state transfer reply (the
// first received message carrying an ArrayList) until released, passing every other
// message on meanwhile.
type holdState struct {
	channel.InterceptorBase
	mu   sync.Mutex
	msg  *channel.Message
	held chan struct{}
}

func (h *holdState) MessageReceived(msg *channel.Message) error {
	h.mu.Lock()
	hold := h.msg == nil && bytes.Contains(msg.Data, []byte("java.util.ArrayList"))
	if hold {
		h.msg = msg
	}
	h.mu.Unlock()
	if hold {
		close(h.held)
		return nil
	}
	return h.InterceptorBase.MessageReceived(msg)
}

// TestRenameDuringJoin: a session renamed (ChangeSessionID: put of the new id, remove
// of the old) on a node while a third node's manager starts, after the donor's snapshot
// of the map and before the joiner's state reply arrives, is found on the joiner under
// its new id and not under its old. Before, the members sent the joiner nothing until
// its MSG_START, after the transfer: the old id stayed there a proxy of a removed entry,
// and a request with it there failed.
func TestRenameDuringJoin(t *testing.T) {
	ctx := context.Background()
	h := &holdState{held: make(chan struct{})}
	chans, _, stop := startNodesWith(3, -1, map[int]channel.Interceptor{2: h})
	t.Cleanup(stop)
	for _, ch := range chans {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(ch.Members()) == 2 })
	}
	var ms []*backup.Manager
	for i, ch := range chans {
		m, err := backup.NewManager(backup.Config{Channel: ch, Name: "localhost#/app", JvmRoute: "n" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Stop(context.Background()) })
		ms = append(ms, m)
	}
	for _, m := range ms[:2] {
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	old := s.ID()
	done := make(chan error, 1)
	go func() { done <- ms[2].Start(ctx) }()
	select {
	case <-h.held:
	case err := <-done:
		t.Fatalf("Start returned %v before the state reply came", err)
	}
	if err := ms[0].ChangeSessionID(ctx, s, "RENAMED.n0"); err != nil {
		t.Fatal(err)
	}
	if err := h.InterceptorBase.MessageReceived(h.msg); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := ms[2].Find(ctx, old); err != nil || got != nil {
		t.Errorf("old id on the joiner: %v, %v", got, err)
	}
	got, err := ms[2].Find(ctx, "RENAMED.n0")
	if err != nil || got == nil {
		t.Fatalf("new id on the joiner: %v, %v", got, err)
	}
	if v, _, err := got.Get("k"); err != nil || v != "v" {
		t.Errorf("attribute k on the joiner: %v, %v", v, err)
	}
}
