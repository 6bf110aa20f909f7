package replmap_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// splitEach sends each of the next n MSG_REMOVE sent once armed (n the value of armed)
// to its destinations but last, then signals held and waits for release before sending
// it to last.
type splitEach struct {
	channel.InterceptorBase
	last          channel.Member
	armed         atomic.Int32
	held, release chan struct{}
	done          chan struct{} // closed at cleanup: nothing waits any more
}

func (s *splitEach) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if replmap.MessageType(msg.Data) != msgRemoveType || s.armed.Add(-1) < 0 {
		return s.Next().SendMessage(ctx, to, msg)
	}
	var first, rest []channel.Member
	for _, mb := range to {
		if mb.Key() == s.last.Key() {
			rest = append(rest, mb)
		} else {
			first = append(first, mb)
		}
	}
	var err error
	if len(first) > 0 {
		m := *msg
		err = s.Next().SendMessage(ctx, first, &m)
	}
	select {
	case s.held <- struct{}{}:
		select {
		case <-s.release:
		case <-s.done:
		}
	case <-s.done:
	}
	if len(rest) > 0 {
		m := *msg
		err = errors.Join(err, s.Next().SendMessage(ctx, rest, &m))
	}
	return err
}

// B's Remove of a key has reached C, each of its MSG_REMOVE to A held, when A's Put of
// the key runs and returns (its publish reaching B), every time: B sends MSG_REMOVE 5
// times (once, then again up to 4 times), and the last one too was overtaken by A's
// Put. Before, the Remove returned nil, a node still holding the key for a primary (A)
// that held nothing. Now it returns an error wrapping ErrRemoveIncomplete.
func TestRemoveOvertakenEveryTimeReturnsErrRemoveIncomplete(t *testing.T) {
	nw := channeltest.NewNetwork()
	split := &splitEach{held: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(split.done) }) })
	nodes := []*node{newChannel(t, nw), newChannel(t, nw, split), newChannel(t, nw)}
	split.last = nodes[0].ch.LocalMember()
	for _, n := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	a, b := nodes[0], nodes[1]
	const sends = 5 // the first MSG_REMOVE and 4 again
	split.armed.Store(sends)
	removed := make(chan error, 1)
	go func() {
		_, err := b.m.Remove(ctx(t), "k")
		removed <- err
	}()
	for i := range sends {
		select {
		case <-split.held: // B's MSG_REMOVE reached C; the one to A waits
		case err := <-removed:
			t.Fatalf("B's Remove returned (%v) after %d MSG_REMOVE sends, want %d", err, i, sends)
		}
		if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
			t.Fatalf("A's Put %d: %v", i, err)
		}
		split.release <- struct{}{}
	}
	err := await(t, "B's Remove", removed)
	if !errors.Is(err, replmap.ErrRemoveIncomplete) {
		t.Fatalf("B's Remove = %v, want an error wrapping ErrRemoveIncomplete", err)
	}
	// What the error says: a node still holds the key.
	held := false
	for _, n := range nodes {
		held = held || slices.Contains(n.m.Keys(), any("k"))
	}
	if !held {
		t.Errorf("no node lists k, where the Remove said one may:%s", keyState(nodes))
	}
}
