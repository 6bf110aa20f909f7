package interop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/transport/nio"
)

// lossRecorder is a message listener that accepts nothing and records the messages the
// transport lost.
type lossRecorder chan channel.LostMessage

func (lossRecorder) Accept(*channel.Message) bool           { return false }
func (lossRecorder) MessageReceived(*channel.Message) error { return nil }
func (r lossRecorder) MessageLost(l channel.LostMessage) {
	select {
	case r <- l:
	default:
	}
}

// TestJavaFrameAboveMaxFrameSize: a Java message above the Go receiver's MaxFrameSize is
// refused, not lost silently (docs/compatibility.md, Go-only extensions): the Go node
// closes the connection and reports the loss with the Java sender and the size
// (LossListener, Stats.MessagesLost, ErrMessageTooLarge); the Java send fails after one
// retry, each attempt reported; a message within the limit then arrives.
func TestJavaFrameAboveMaxFrameSize(t *testing.T) {
	p := javapeer.Start(t)
	cfg := nio.DefaultConfig()
	cfg.MaxFrameSize = 64 << 10
	g := startGoWith(t, cfg)
	lost := make(lossRecorder, 8)
	g.ch.AddMessageListener(lost)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const opts = int(channel.OptByteMessage | channel.OptUseAck)
	res, err := p.Send(ctx, []string{g.member()}, 1, 100<<10, opts, "big")
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 0 || res.Failed != 1 {
		t.Fatalf("Java's send of 100 KiB: %+v, want it failed", res)
	}
	select {
	case l := <-lost:
		if l.Source.UniqueID != p.ID || l.Size <= 100<<10 || !errors.Is(l.Err, channel.ErrMessageTooLarge) {
			t.Fatalf("loss reported: source %v, %d bytes, %v", l.Source, l.Size, l.Err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no loss reported")
	}
	// Java's sender retries once (maxRetryAttempts 1): two frames, two losses.
	testutil.EventuallyTrue(t, 10*time.Second, "two losses", func() bool { return g.ch.Stats().MessagesLost == 2 })
	if res, err := p.Send(ctx, []string{g.member()}, 1, 1000, opts, "small"); err != nil || res.Sent != 1 {
		t.Fatalf("Java's next send: %+v %v", res, err)
	}
	if m := g.next(t); len(m.Data) != 1000 {
		t.Fatalf("Go received %d bytes, want 1000", len(m.Data))
	}
	if n := g.ch.Stats().MessagesLost; n != 2 {
		t.Fatalf("Stats.MessagesLost %d, want 2", n)
	}
}
