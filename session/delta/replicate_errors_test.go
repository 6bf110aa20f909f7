package delta_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// bytesOnly hides every method of a channel but delta.Channel's: it cannot send Java
// object messages (no SendMessage).
type bytesOnly struct{ delta.Channel }

// TestReplicateNoObjectMessages: Replicate's documented errors include
// ErrNoObjectMessages, for a cluster whose JavaCodec sends Java object messages over a
// Channel without SendMessage; the change stays pending.
func TestReplicateNoObjectMessages(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, bytesOnly{ach}, delta.JavaCodec{}, delta.Config{JvmRoute: "a", Codec: delta.JavaValueCodec{}})
	newChannel(t, nw) // a member to send to
	testutil.EventuallyTrue(t, 10*time.Second, "A lists the member", func() bool { return len(ach.Members()) == 1 })
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); !errors.Is(err, delta.ErrNoObjectMessages) {
		t.Fatalf("Replicate over a channel without SendMessage: %v, want an error wrapping ErrNoObjectMessages", err)
	}
	if !s.Dirty() {
		t.Error("the change is no longer pending")
	}
}
