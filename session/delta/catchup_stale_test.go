package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// lateFirstAnswer is a joiner's delta.Channel over which the member at port to answers
// the joiner's first catch-up request late: the request ends in an ack timeout, the
// chunks of its answer arrive half a second after the joiner gave up waiting for them
// (idle, its TransferIdleTimeout), before it asks again, and its
// EVT_ALL_SESSION_TRANSFERCOMPLETE while the second request waits, before that request
// reaches the member, 100 ms after its ack timed out too. gate runs before the first
// request goes.
type lateFirstAnswer struct {
	*channel.Channel
	to   int32
	idle time.Duration
	gate func()

	mu      sync.Mutex
	asked   int                // catch-up requests to `to`
	holding bool               // the first answer's messages are held
	held    []*channel.Message // the first answer's messages, in order
	late    bool               // its chunks had arrived and its last message was held at the second request
	inner   channel.MessageListener
}

func (c *lateFirstAnswer) AddMessageListener(l channel.MessageListener) func() {
	c.inner = l
	return c.Channel.AddMessageListener(tapListener{l, c.hold})
}

func (c *lateFirstAnswer) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	m, err := delta.BinaryCodec{}.DecodeMessage(data)
	if len(to) != 1 || to[0].Port != c.to || err != nil || m.Event != delta.EventGetAllSessions ||
		m.Version&delta.AskRecent == 0 {
		return c.Channel.Send(ctx, to, data, opts)
	}
	c.mu.Lock()
	c.asked++
	n := c.asked
	c.mu.Unlock()
	switch n {
	case 1:
		c.gate()
		c.setHolding(true)
		err := c.Channel.Send(ctx, to, data, opts) // answered at once, and held
		c.setHolding(false)
		if err != nil {
			return err
		}
		go func() {
			time.Sleep(c.idle + 500*time.Millisecond) // the joiner gave up on it
			c.deliverHeld(false)
		}()
	case 2:
		c.mu.Lock()
		c.late = len(c.held) == 1
		c.mu.Unlock()
		c.deliverHeld(true)
		data := bytes.Clone(data)
		go func() {
			time.Sleep(100 * time.Millisecond)
			_ = c.Channel.Send(context.Background(), to, data, opts)
		}()
	default:
		return c.Channel.Send(ctx, to, data, opts)
	}
	return fmt.Errorf("no ACK from %s: %w", to[0].Addr(), channel.ErrAckTimeout)
}

func (c *lateFirstAnswer) setHolding(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holding = on
}

// deliverHeld hands the joiner the held messages but the last (the chunks), or the
// last alone (the EVT_ALL_SESSION_TRANSFERCOMPLETE), and forgets them.
func (c *lateFirstAnswer) deliverHeld(last bool) {
	c.mu.Lock()
	var msgs []*channel.Message
	if n := len(c.held); n > 0 && last {
		msgs, c.held = c.held[n-1:], c.held[:n-1]
	} else if n > 0 {
		msgs, c.held = c.held[:n-1], c.held[n-1:]
	}
	c.mu.Unlock()
	for _, msg := range msgs {
		_ = c.inner.MessageReceived(msg)
	}
}

// hold keeps msg, while the first answer is held, from the joiner (false).
func (c *lateFirstAnswer) hold(msg *channel.Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding || msg.Source.Port != c.to {
		return true
	}
	c.held = append(c.held, &channel.Message{Options: msg.Options, Timestamp: msg.Timestamp,
		Source: msg.Source, Data: bytes.Clone(msg.Data)})
	return false
}

// tapListener is the message listener l as a test's delta.Channel wraps it: tap sees each
// message l accepts first, and l gets it unless tap returns false.
type tapListener struct {
	l   channel.MessageListener
	tap func(*channel.Message) bool
}

func (t tapListener) Accept(msg *channel.Message) bool { return t.l.Accept(msg) }

func (t tapListener) MessageReceived(msg *channel.Message) error {
	if !t.tap(msg) {
		return nil
	}
	return t.l.MessageReceived(msg)
}

func (t tapListener) MessageLost(lost channel.LostMessage) {
	if l, ok := t.l.(channel.LossListener); ok {
		l.MessageLost(lost)
	}
}

// A joiner's catch-up request to a member a that timed out without an answer (the joiner
// waits TransferIdleTimeout after an ack timeout) is asked again a second later, by the
// late catch-up (askLate) or, without a window, before the joiner is ready (askOnce).
// The answer to the first request could still arrive during the second: its chunks came
// between the two (no request: dropped), and its EVT_ALL_SESSION_TRANSFERCOMPLETE ended
// the second request as if it were its answer, whose chunks then came after it and were
// dropped: the joiner took a for caught up with, and served a's session without a's
// acknowledged changes. Each request now carries an id of its own, which a Go member
// echoes in its answer (AskEcho): an answer to an earlier request is ignored.
func TestCatchUpIgnoresALateAnswerToAnEarlierRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{
		{"late catch-up", 0},
		{"no window", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
				var hidden atomic.Pointer[channel.MemberKey]
				a := startLate(t, nw, &hidden)
				s := create(t, a, "k", 1)
				time.Sleep(time.Minute)

				jtn, jch := newChannel(t, nw)
				k := jtn.Member().Key()
				hidden.Store(&k) // a does not list j: its changes go to d only
				held, release := make(chan struct{}), make(chan struct{})
				const idle = 2 * time.Second
				lc := &lateFirstAnswer{Channel: jch, to: a.tn.Port(), idle: idle,
					gate: func() { held <- struct{}{}; <-release }}
				jm := startJoiner(t, lc, delta.ClusterConfig{}, delta.Config{JvmRoute: "j",
					Replication: delta.ReplicateAcked, MemberWait: 5 * time.Second, CatchUpWindow: tc.window,
					TransferIdleTimeout: idle})
				<-held // j's transfer from d is complete, its catch-up asks a
				for k := 2; k <= 3; k++ {
					if err := s.Set("k", k); err != nil {
						t.Fatal(err)
					}
					if err := a.m.Replicate(ctx, s); err != nil {
						t.Fatalf("a's change was not acknowledged: %v", err)
					}
				}
				hidden.Store(nil) // a lists j and answers its request
				close(release)
				if err := jm.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Second) // the late catch-up's request
				synctest.Wait()

				lc.mu.Lock()
				asked, late := lc.asked, lc.late
				lc.mu.Unlock()
				if asked != 2 || !late {
					t.Fatalf("%d catch-up requests to a, the first answer arrived during the second: %v; want 2, true",
						asked, late)
				}
				if v, _ := delta.Attr[int](d.m.Find(s.ID()), "k"); v != 3 {
					t.Fatalf("d holds k=%d, want 3", v)
				}
				if v, _ := delta.Attr[int](jm.Find(s.ID()), "k"); v != 3 {
					t.Errorf("j holds k=%d of a's session, want the acknowledged 3 (the second request's answer)", v)
				}
				if n := jm.Stats().CatchUps; n != 1 {
					t.Errorf("j caught up with %d members, want 1 (a, asked again)", n)
				}
			})
		})
	}
}

// echoless is a joiner's delta.Channel that sends its catch-up requests to the member at
// port to as a node of an earlier version does: without AskEcho, under the one id
// "GET-ALL-" and the context's name. ids records the UniqueIDs of the answers from that
// member (EVT_ALL_SESSION_DATA and EVT_ALL_SESSION_TRANSFERCOMPLETE).
type echoless struct {
	*channel.Channel
	to int32

	mu  sync.Mutex
	ids []string
}

func (c *echoless) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	m, err := delta.BinaryCodec{}.DecodeMessage(data)
	if len(to) == 1 && to[0].Port == c.to && err == nil && m.Event == delta.EventGetAllSessions &&
		m.Version&delta.AskRecent != 0 {
		m.Version &^= delta.AskEcho
		m.UniqueID = "GET-ALL-" + appName
		if data, err = (delta.BinaryCodec{}).AppendMessage(nil, m); err != nil {
			return err
		}
	}
	return c.Channel.Send(ctx, to, data, opts)
}

func (c *echoless) AddMessageListener(l channel.MessageListener) func() {
	return c.Channel.AddMessageListener(tapListener{l, c.record})
}

// record notes the UniqueID of msg if it is an answer from the member asked.
func (c *echoless) record(msg *channel.Message) bool {
	m, err := delta.BinaryCodec{}.DecodeMessage(msg.Data)
	if err == nil && msg.Source.Port == c.to && (m.Event == delta.EventAllSessionData || m.Event == delta.EventTransferComplete) {
		c.mu.Lock()
		c.ids = append(c.ids, m.UniqueID)
		c.mu.Unlock()
	}
	return true
}

// A catch-up's answer that echoes no request's id is taken for the current request's: a
// member of this version asked without AskEcho (by a joiner of an earlier version)
// answers as before, with the ids it gave every answer, and a joiner of this version
// asking a member of an earlier version (which ignores AskEcho) merges its answer.
func TestCatchUpTakesAnAnswerThatEchoesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
		var hidden atomic.Pointer[channel.MemberKey]
		a := startLate(t, nw, &hidden)
		s := create(t, a, "k", 1)
		time.Sleep(time.Minute)

		jtn, jch := newChannel(t, nw)
		k := jtn.Member().Key()
		hidden.Store(&k) // a does not list j: it refuses j's catch-up, its changes go to d only
		ec := &echoless{Channel: jch, to: a.tn.Port()}
		jm := startJoiner(t, ec, delta.ClusterConfig{}, delta.Config{JvmRoute: "j",
			Replication: delta.ReplicateAcked, MemberWait: 3 * time.Second})
		synctest.Wait() // j's transfer from d is complete, a refuses its catch-up
		for k := 2; k <= 3; k++ {
			if err := s.Set("k", k); err != nil {
				t.Fatal(err)
			}
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatalf("a's change was not acknowledged: %v", err)
			}
		}
		hidden.Store(nil) // a lists j and answers its next request
		if err := jm.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if v, _ := delta.Attr[int](jm.Find(s.ID()), "k"); v != 3 {
			t.Errorf("j holds k=%d of a's session, want the acknowledged 3 (a's answer)", v)
		}
		if v, _ := delta.Attr[int](d.m.Find(s.ID()), "k"); v != 3 {
			t.Errorf("d holds k=%d, want 3", v)
		}
		if n := jm.Stats().CatchUps; n != 1 {
			t.Errorf("j caught up with %d members, want 1 (a)", n)
		}
		ec.mu.Lock()
		defer ec.mu.Unlock()
		want := []string{"", "SESSION-STATE-TRANSFERRED" + appName} // a chunk, then the end
		if !slices.Equal(ec.ids, want) {
			t.Errorf("a's answer carries the ids %q, want %q (as before AskEcho)", ec.ids, want)
		}
	})
}
