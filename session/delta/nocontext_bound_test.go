package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// heldNoContext is a delta.Channel whose sends of EVT_ALL_SESSION_NOCONTEXTMANAGER wait
// until release is closed (or their ctx ends): a member that does not read them.
type heldNoContext struct {
	delta.Channel
	release        chan struct{}
	inFlight, most *atomic.Int32
}

func (h heldNoContext) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if m, err := (delta.BinaryCodec{}).DecodeMessage(data); err == nil && m.Event == delta.EventNoContextManager {
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		for {
			most := h.most.Load()
			if n <= most || h.most.CompareAndSwap(most, n) {
				break
			}
		}
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.Channel.Send(ctx, to, data, opts)
}

// A member floods a node with requests for every session naming a context the node has
// no manager for. Each request's answer (EVT_ALL_SESSION_NOCONTEXTMANAGER) was sent on a
// goroutine of its own, however many were still on their way, so that a member that does
// not read them (or a stream of requests faster than they go out) had the node hold a
// goroutine per request. At most 16 answers are on their way now; a request beyond is
// left unanswered (its asker's wait ends as for a lost answer), counted in
// ClusterStats.UnknownContext as every such request.
func TestNoContextRepliesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		_, tch := newChannel(t, nw)
		_, sch := newChannel(t, nw)
		h := heldNoContext{Channel: tch, release: make(chan struct{}), inFlight: new(atomic.Int32), most: new(atomic.Int32)}
		cl := newCluster(t, h, delta.ClusterConfig{})
		synctest.Wait() // the two channels list each other
		req, err := (delta.BinaryCodec{}).AppendMessage(nil, &delta.Message{Event: delta.EventGetAllSessions,
			Context: "nobody#/here", SessionID: "GET-ALL", Timestamp: 1})
		if err != nil {
			t.Fatal(err)
		}
		const flood = 500
		for range flood {
			if err := sch.Send(ctx, []channel.Member{tch.LocalMember()}, req, 0); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait() // every answer that is sent at all waits in Send
		most := h.most.Load()
		close(h.release)
		if err := cl.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if st := cl.Stats(); st.UnknownContext != flood {
			t.Errorf("%d requests for an unknown context counted, want %d", st.UnknownContext, flood)
		}
		if most > delta.MaxNoContextReplies {
			t.Errorf("%d answers to requests for an unknown context on their way at once, want at most %d",
				most, delta.MaxNoContextReplies)
		}
		if most == 0 {
			t.Error("no request was answered")
		}
	})
}
