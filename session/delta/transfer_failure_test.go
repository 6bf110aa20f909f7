package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// failedTransfer waits for j's state transfer and checks that it failed with
// ErrAllDonorsFailed, one attempt, and an error that matches each of want.
func failedTransfer(t *testing.T, m *delta.Manager, want ...error) *delta.StateTransferError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // well within StateTransferTimeout
	defer cancel()
	err := m.WaitReady(ctx)
	var ste *delta.StateTransferError
	if !errors.As(err, &ste) || !errors.Is(err, delta.ErrAllDonorsFailed) || len(ste.Attempts) != 1 {
		t.Fatalf("WaitReady: %v, want a *StateTransferError of one attempt with ErrAllDonorsFailed", err)
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("WaitReady: %v, want it to match %v", err, w)
		}
	}
	if !m.Ready() {
		t.Error("the manager is not ready (it serves with what it received)")
	}
	return ste
}

// A donor's chunk larger than what the joiner's transport accepts (channeltest's limit
// standing for nio's MaxFrameSize) fails the joiner's transfer at once, with an error
// that says what to raise, instead of a joiner ready with no session and no error.
func TestJoinerFailsWhenTheDonorsMessageIsTooLarge(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor := startReady(t, nw, delta.Config{JvmRoute: "a"})
	for range 3 {
		create(t, donor, "blob", bytes.Repeat([]byte("x"), 1000))
	}
	tn, ch := newChannel(t, nw)
	tn.SetMaxMessageSize(1000)
	j := startManager(t, tn, ch, delta.Config{JvmRoute: "b", StateTransferTimeout: time.Minute})
	failedTransfer(t, j.m, channel.ErrMessageTooLarge)
	if err := j.m.WaitReady(context.Background()); !strings.Contains(err.Error(), "MaxFrameSize") ||
		!strings.Contains(err.Error(), `sendAllSessions="false"`) {
		t.Errorf("the error does not say what to raise: %v", err)
	}
	if j.m.Len() != 0 {
		t.Errorf("%d sessions", j.m.Len())
	}
}

// The same over real TCP: the joiner's nio receiver refuses the donor's frame above its
// MaxFrameSize, reports it with the sender its header names, and the joiner's transfer
// fails naming the size to raise MaxFrameSize above.
func TestJoinerReportsAFrameAboveMaxFrameSize(t *testing.T) {
	donor := tcpCluster(t, 1, delta.Config{})[0]
	for range 2 {
		s, err := donor.m.Create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("blob", bytes.Repeat([]byte("y"), 100<<10)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := nio.DefaultConfig()
	cfg.MaxFrameSize = 64 << 10
	ch, ms := startTCPChannelWith(t, cfg)
	if err := ms.Add(context.Background(), donor.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := donor.ms.Add(context.Background(), ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	m := startJoiner(t, ch, delta.ClusterConfig{}, delta.Config{JvmRoute: "j", StateTransferTimeout: time.Minute, MemberWait: -1})
	ste := failedTransfer(t, m, channel.ErrMessageTooLarge)
	if got := ste.Attempts[0].Err.Error(); !strings.Contains(got, "raise this node's MaxFrameSize") {
		t.Errorf("attempt: %v", got)
	}
	if st := ch.Stats(); st.MessagesLost == 0 {
		t.Error("the channel counted no lost message")
	}
}

// failingSends is a channel whose sends all fail with err.
type failingSends struct {
	*channel.Channel
	err error
}

func (f failingSends) Send(context.Context, []channel.Member, []byte, channel.SendOptions) error {
	return f.err
}

// A joiner whose request to the only member failed (its connection was lost) becomes
// ready with a *StateTransferError naming that failure, not with no error; one that could
// not connect at all (a static member not running yet, as when a cluster starts) starts
// empty without one.
func TestJoinerReportsARequestThatFailed(t *testing.T) {
	nw := channeltest.NewNetwork()
	startReady(t, nw, delta.Config{JvmRoute: "a"})
	for _, cause := range []error{channel.ErrConnectionLost, channel.ErrConnect} {
		_, ch := newChannel(t, nw)
		m := startJoiner(t, failingSends{ch, fmt.Errorf("%w: by the test", cause)}, delta.ClusterConfig{}, delta.Config{JvmRoute: "b", MemberWait: -1, StateTransferTimeout: time.Minute})
		if cause == channel.ErrConnect {
			if err := m.WaitReady(context.Background()); err != nil {
				t.Errorf("a member that could not be connected to: %v, want nil", err)
			}
			continue
		}
		failedTransfer(t, m, cause)
	}
}

// A joiner whose only donor acknowledged the request, then disappeared, becomes ready
// with a *StateTransferError (ErrDonorGone).
func TestJoinerReportsADonorThatLeft(t *testing.T) {
	nw := channeltest.NewNetwork()
	asked := make(chan struct{}, 1)
	r := newRaw(t, nw, func(msg *delta.Message, _ channel.Member) {
		if msg.Event == delta.EventGetAllSessions {
			asked <- struct{}{}
		}
	})
	j := startNode(t, nw, delta.Config{JvmRoute: "b", StateTransferTimeout: time.Minute})
	select {
	case <-asked:
	case <-time.After(20 * time.Second):
		t.Fatal("the joiner did not ask")
	}
	nw.Kill(r.tn)
	failedTransfer(t, j.m, delta.ErrDonorGone)
}

// A chunk the joiner's JavaCodec refuses for another limit than MaxBytes (here
// MaxHandles: a list of 100 strings) was reported with the hint to raise
// Limits.MaxBytes above its size, which the chunk was within; the hint now names the
// limit to raise as the error does.
func TestJoinerPastItsHandlesNotToldToRaiseMaxBytes(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, _, _ := startJavaNode(t, nw, "a")
	s, err := donor.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	list := make([]any, 100)
	for i := range list {
		list[i] = fmt.Sprint("s", i)
	}
	if err := s.Set("list", list); err != nil {
		t.Fatal(err)
	}
	_, ch := newChannel(t, nw)
	m := startJoiner(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}},
		delta.Config{JvmRoute: "b", MemberWait: -1, Codec: delta.JavaValueCodec{}, StateTransferTimeout: time.Minute})
	ste := failedTransfer(t, m, jserial.ErrLimit)
	if got := ste.Attempts[0].Err.Error(); !strings.Contains(got, "raise the JavaCodec.Limits field") ||
		strings.Contains(got, "MaxBytes above") {
		t.Errorf("attempt: %v", got)
	}
}

// A donor's chunk the joiner's codec refuses (here: above JavaCodec.Limits.MaxBytes) fails
// the transfer too, saying which limit to raise.
func TestJoinerReportsAChunkItCannotDecode(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, _, _ := startJavaNode(t, nw, "a")
	for range 3 {
		s, err := donor.Create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("blob", bytes.Repeat([]byte("z"), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	_, ch := newChannel(t, nw)
	m := startJoiner(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 2000}}}, delta.Config{JvmRoute: "b", MemberWait: -1, Codec: delta.JavaValueCodec{},
		StateTransferTimeout: time.Minute})
	ste := failedTransfer(t, m, jserial.ErrLimit)
	if got := ste.Attempts[0].Err.Error(); !strings.Contains(got, "raise JavaCodec.Limits") {
		t.Errorf("attempt: %v", got)
	}
}

// A chunk whose values' Go forms exceed the joiner's JavaCodec.MaxExpansion fails the
// transfer the same way, naming that knob: 5 000 Integer attributes, each a reference to
// the class descriptor in the chunk but a whole stream on the Go side.
func TestJoinerReportsAChunkOverItsDecodeBudget(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, _, _ := startJavaNode(t, nw, "a")
	s, err := donor.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if err := s.Set(fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
	}
	_, ch := newChannel(t, nw)
	m := startJoiner(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{MaxExpansion: 1}}, delta.Config{JvmRoute: "b",
		MemberWait: -1, Codec: delta.JavaValueCodec{}, StateTransferTimeout: time.Minute})
	ste := failedTransfer(t, m, delta.ErrDecodeBudget)
	if got := ste.Attempts[0].Err.Error(); !strings.Contains(got, "raise JavaCodec.MaxExpansion") {
		t.Errorf("attempt: %v", got)
	}
}

// arrivingChannel is a channel whose transport says a message from every member is
// arriving while on is set (channel.Channel.Arriving).
type arrivingChannel struct {
	*channel.Channel
	on    atomic.Bool
	asked atomic.Int32 // calls of Arriving
}

func (a *arrivingChannel) Arriving(channel.Member) bool {
	a.asked.Add(1)
	return a.on.Load()
}

// A donor's "complete" that overtakes its message of sessions still arriving (Tomcat
// sends them on different connections) does not end the transfer: the joiner waits until
// the message is delivered and loaded, or fails the transfer when it is lost, instead of
// serving without the sessions.
func TestJoinerWaitsForTheDonorsMessageStillArriving(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("lost=%v", lost), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			donor, asked := newAsker(t, nw)
			tn, ch := newChannel(t, nw)
			ac := &arrivingChannel{Channel: ch}
			ac.on.Store(true)
			m := startJoiner(t, ac, delta.ClusterConfig{}, delta.Config{JvmRoute: "j", MemberWait: -1, StateTransferTimeout: time.Minute})
			jm := waitFor(t, asked)
			T := time.Now().UnixMilli()
			donor.send(t, jm, &delta.Message{Event: delta.EventTransferComplete, Context: appName,
				SessionID: "SESSION-STATE-TRANSFERRED", Timestamp: T})
			testutil.EventuallyTrue(t, 10*time.Second, "the joiner asks whether a message from the donor is arriving", func() bool {
				return ac.asked.Load() > 1
			})
			st := delta.SessionState{ID: "S.d", CreationTime: T, LastAccessedTime: T, MaxInactive: 1800}
			if lost { // the message is lost on receipt: the joiner's channel reports it
				tn.SetMaxMessageSize(1000)
				st.Attributes = []delta.NamedValue{{Name: "blob", Value: bytes.Repeat([]byte("x"), 2000)}}
			}
			chunk := &delta.Message{Event: delta.EventAllSessionData, Context: appName, SessionID: "SESSION-STATE",
				Timestamp: T, Sessions: []delta.SessionState{st}}
			if lost {
				data, err := donor.codec.AppendMessage(nil, chunk)
				if err != nil {
					t.Fatal(err)
				}
				_ = donor.ch.Send(context.Background(), []channel.Member{jm}, data, 0) // refused by the joiner
				failedTransfer(t, m, channel.ErrMessageTooLarge)
				return
			}
			donor.send(t, jm, chunk)
			testutil.EventuallyTrue(t, 10*time.Second, "the session loaded", func() bool { return m.Len() == 1 })
			ac.on.Store(false) // delivered: the transport no longer counts it
			if err := m.WaitReady(context.Background()); err != nil {
				t.Fatal(err)
			}
			if m.Find("S.d") == nil {
				t.Fatal("the session of the message that arrived after the donor's complete is missing")
			}
		})
	}
}

// A donor's chunk announcing 2^31 sessions (Message.Total) and carrying one sized the
// joiner's table for maxReserve sessions, over 200 MB allocated on the donor's word; the
// table now grows with the sessions that arrive. Chunks that keep coming still load.
func TestJoinerTableFollowsTheSessionsNotTheAnnouncedTotal(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, asked := newAsker(t, nw)
	_, ch := newChannel(t, nw)
	m := startJoiner(t, ch, delta.ClusterConfig{}, delta.Config{JvmRoute: "j", MemberWait: -1, StateTransferTimeout: time.Minute})
	jm := waitFor(t, asked)
	T := time.Now().UnixMilli()
	chunk := func(first, n int) *delta.Message {
		msg := &delta.Message{Event: delta.EventAllSessionData, Context: appName, SessionID: "SESSION-STATE",
			Timestamp: T, Total: math.MaxInt32}
		for i := first; i < first+n; i++ {
			msg.Sessions = append(msg.Sessions, delta.SessionState{ID: fmt.Sprintf("S%d.d", i), CreationTime: T, LastAccessedTime: T, MaxInactive: 1800})
		}
		return msg
	}
	alloc := testutil.Allocated(func() {
		donor.send(t, jm, chunk(0, 1)) // use_ack + sync_ack: returns once the joiner loaded it
	})
	if m.Len() != 1 {
		t.Fatalf("%d sessions after the first chunk", m.Len())
	}
	if alloc > 16<<20 {
		t.Errorf("a chunk of one session announcing 2^31 allocated %d MB", alloc>>20)
	}
	for i := range 20 {
		donor.send(t, jm, chunk(1+i*100, 100))
	}
	donor.send(t, jm, &delta.Message{Event: delta.EventTransferComplete, Context: appName,
		SessionID: "SESSION-STATE-TRANSFERRED", Timestamp: T})
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2001 {
		t.Fatalf("%d sessions after the transfer, want 2001", m.Len())
	}
}
