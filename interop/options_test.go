package interop_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
)

// TestAsyncAndSecureBitsTravel: OptAsync (0x08) and OptSecure (0x10) reach the other side
// unchanged in both directions, with no dispatch interceptor on either (docs/compatibility.md:
// the asynchronous bit is a local matter that travels, the secure bit is carried and
// implemented by neither side).
func TestAsyncAndSecureBitsTravel(t *testing.T) {
	p := javapeer.Start(t)
	g := startGo(t, javaMember(t, p))
	const opts = channel.OptByteMessage | channel.OptUseAck | channel.OptAsync | channel.OptSecure
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := javapeer.Content(100, 8, "bits")
	if err := g.ch.Send(ctx, nil, data, opts); err != nil {
		t.Fatal(err)
	}
	if ev := p.WaitEvent(t, 30*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data))); ev.Options != int(opts) {
		t.Fatalf("Java saw options %#x, want %#x", ev.Options, int(opts))
	}
	res, err := p.Send(ctx, []string{g.member()}, 1, 100, int(opts), "")
	if err != nil || res.Sent != 1 || res.Failed != 0 {
		t.Fatalf("Java send: %+v %v", res, err)
	}
	if m := g.next(t); m.Options != opts {
		t.Fatalf("Go saw options %v, want %v", m.Options, opts)
	}
}
