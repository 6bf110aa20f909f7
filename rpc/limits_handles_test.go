package rpc

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// TestConfigLimitsHandlesBesideDefault: the rpc.Channels of one channel.Channel decode
// with the largest of their limits, and jserial's default MaxHandles (a zero field) is
// 1<<20 or one handle per 8 bytes of the message, whichever is more. An rpc.Channel
// whose explicit MaxHandles was just above 1<<20 beside one that left it zero made the
// combined limit that explicit one for every message, so a 10 MiB reply of 1<<20+4096
// strings, which the default takes alone (one handle per 8 bytes: about 1.3M), was
// refused once the other rpc.Channel was created: the combined limit was lower than one
// of the limits it combined.
func TestConfigLimitsHandlesBesideDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a 10 MiB message of a million strings")
	}
	payload := append(manyStrings(1<<20+4096), make([]byte, 8<<20))
	b := replyStream(t, "x", payload)
	if n := len(b) / 8; n <= 1<<20+4096 {
		t.Fatalf("the reply takes %d bytes, too few for the default to scale", len(b))
	}
	var got int
	deliver := func(c *Channel) (bool, error) {
		before := got
		err := c.disp.MessageReceived(&channel.Message{Data: b, Source: channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000}})
		return got > before, err
	}
	newChannel := func(ch *channel.Channel, id string, limits jserial.DecoderConfig) *Channel {
		t.Helper()
		c, err := New(Config{Channel: ch, ID: []byte(id), Limits: limits,
			Handler:  HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil }),
			LeftOver: func(any, channel.Member) { got++ }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	ch := limitsChannel(t)
	def := newChannel(ch, "x", jserial.DecoderConfig{})
	if ok, err := deliver(def); !ok || err != nil {
		t.Fatalf("with the default limits alone, the %d-byte reply of %d strings: delivered %v, %v", len(b), 1<<20+4096, ok, err)
	}
	wide := newChannel(ch, "wide", jserial.DecoderConfig{MaxHandles: 1<<20 + 16})
	if ok, err := deliver(def); !ok || err != nil {
		t.Fatalf("beside an rpc.Channel with MaxHandles 1<<20+16: delivered %v, %v; want delivered (the largest limit applies)", ok, err)
	}
	_ = wide.Close(context.Background())
	if ok, err := deliver(def); !ok || err != nil {
		t.Fatalf("once that rpc.Channel closed: delivered %v, %v", ok, err)
	}
}

// TestConfigLimitsHandlesCombined pins, without decoding, the MaxHandles that the
// rpc.Channels of one channel.Channel decode a message with: for every size of message,
// the largest of the limits each rpc.Channel would apply alone, an explicit MaxHandles
// as given and a zero one as jserial's default for that message (1<<20 or one handle per
// 8 bytes, whichever is more, up to MaxBytes).
func TestConfigLimitsHandlesCombined(t *testing.T) {
	alone := func(maxHandles int, n int, maxBytes int64) int {
		if maxHandles != 0 {
			return maxHandles
		}
		return max(jserial.DefaultMaxHandles, int(min(int64(n), maxBytes)/handleBytes))
	}
	const maxBytes = 64 << 20
	for _, set := range [][]int{
		{0}, {0, 0}, {1000}, {0, 1000}, {0, 1 << 20}, {1 << 20}, {0, 1<<20 + 16}, {1<<20 + 16, 2 << 20},
		{0, 2 << 20}, {0, 8 << 20}, {4 << 20, 0, 1000},
	} {
		d := &dispatcher{byID: map[string]*Channel{}}
		for i, h := range set {
			d.byID[string(rune('a'+i))] = &Channel{cfg: Config{Limits: jserial.DecoderConfig{MaxHandles: h, MaxBytes: maxBytes}}}
		}
		d.setLimits()
		for _, n := range []int{100, 1 << 20, 8<<20 + 1000, 16 << 20, 40 << 20, maxBytes, maxBytes + 1} {
			want := 0
			for _, h := range set {
				want = max(want, alone(h, n, maxBytes))
			}
			cfg := d.limits.Load().forMessage(n)
			if got := alone(cfg.MaxHandles, n, cfg.MaxBytes); got != want {
				t.Errorf("MaxHandles %v, a message of %d bytes: decoded with %d handles, want %d (the largest alone)",
					set, n, got, want)
			}
		}
	}
}
