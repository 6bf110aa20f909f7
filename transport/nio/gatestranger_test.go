package nio

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// EngineGoroutine: a stranger's connection whose complete frame waited for MaxQueuedBytes
// room had no partial frame (frameSince 0) and nothing in delivery, so once
// FirstFrameTimeout passed since its last delivery the sweeper closed it as idle
// (Stats.ConnsNonMember) and its complete frame was dropped, though it only waited for
// room. A frame waiting in the gate now counts as queued: the connection is not idle, and
// the frame is delivered once the listener makes room.
func TestStrangerWaitingForQueueRoomNotIdle(t *testing.T) {
	const firstFrame = 100 * time.Millisecond
	cfg := testConfig()
	cfg.Engine = EngineGoroutine
	cfg.MaxQueuedBytes = 1024
	cfg.FirstFrameTimeout = firstFrame
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	member := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: 7, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{7}}
	stranger := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: 9, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{9}}
	tr.SetSenderCheck(func(src *channel.Member) bool { return src.Key() == member.Key() })
	rec := newRecorder(4)
	release, started := newGate(), make(chan struct{}, 1)
	if err := tr.Start(context.Background(), channel.SvcTransport, func(m *channel.Message) error {
		if m.Source.Key() == member.Key() {
			started <- struct{}{}
			release.wait()
			return nil
		}
		return rec.rx(m)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
	t.Cleanup(release.open)
	b := &node{t: tr, member: memberOf(tr)}
	msrc, _ := member.MarshalBinary()
	ssrc, _ := stranger.MarshalBinary()

	// The stranger's first frame is delivered: its idle time counts from then.
	sc := dialRaw(t, b)
	if _, err := sc.Write(frame(ssrc, 0, []byte("first"))); err != nil {
		t.Fatal(err)
	}
	if m := rec.next(t); string(m.Data) != "first" {
		t.Fatalf("delivered %q, want the stranger's first frame", m.Data)
	}
	// A member's frame holds the listener, and its 600 bytes of the budget's 1024.
	if _, err := dialRaw(t, b).Write(frame(msrc, 0, make([]byte, 600))); err != nil {
		t.Fatal(err)
	}
	<-started
	// The stranger's second frame does not fit: its connection waits for room.
	second := bytes.Repeat([]byte("s"), 600)
	if _, err := sc.Write(frame(ssrc, 0, second)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, waitTimeout, "the stranger's connection waits for room", func() bool {
		return tr.Stats().ReadPauses > 0
	})
	// 10 × FirstFrameTimeout waiting: closed as idle in the first of them before.
	deadline := time.Now().Add(10 * firstFrame)
	for time.Now().Before(deadline) && tr.Stats().ConnsNonMember == 0 {
		<-time.After(10 * time.Millisecond) // poll interval
	}
	if n := tr.Stats().ConnsNonMember; n != 0 {
		t.Fatalf("the stranger's connection waiting for MaxQueuedBytes room with a complete frame was closed as idle (ConnsNonMember %d)", n)
	}
	release.open()
	if m := rec.next(t); !bytes.Equal(m.Data, second) {
		t.Fatalf("delivered %q, want the stranger's second frame", m.Data)
	}
	if st := tr.Stats(); st.ConnsNonMember != 0 || st.FramesReceived != 3 {
		t.Fatalf("ConnsNonMember %d, FramesReceived %d: want 0, 3", st.ConnsNonMember, st.FramesReceived)
	}
}
