package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/static"
)

// limitsChannel makes an unstarted channel.Channel for rpc.Channels that are handed
// messages directly.
func limitsChannel(t *testing.T) *channel.Channel {
	t.Helper()
	ch, err := channel.New(channel.Config{Transport: channeltest.NewNetwork().NewNode().Transport(),
		Membership: static.New(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// replyStream is the stream of a reply (to no call of this node: a left-over) for id with
// payload, written with an encoder that nests up to 10000 deep, beyond what Marshal writes.
func replyStream(t *testing.T, id string, payload any) []byte {
	t.Helper()
	var w jserial.DataWriter
	w.WriteBool(true)
	for _, b := range [][]byte{[]byte("0123456789abcdef"), []byte(id)} {
		w.WriteInt32(int32(len(b)))
		_, _ = w.Write(b)
	}
	w.WriteObject(payload)
	var buf bytes.Buffer
	enc, err := jserial.NewEncoder(&buf, jserial.EncoderConfig{MaxDepth: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(&jserial.Object{Class: messageDesc, External: w.Contents()}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// nested is a []any (an ArrayList) holding another, n deep.
func nested(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

// manyStrings is a []any of n distinct strings: a handle each.
func manyStrings(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprint("s", i)
	}
	return out
}

// TestConfigLimits: Config.Limits bound the Java deserialization of the messages an
// rpc.Channel receives, each field as jserial's DecoderConfig. Before, only MaxBytes
// (MaxMessageBytes) could be set: every other limit was jserial's default, whatever the
// application needed. A lowered limit refuses, with an error wrapping ErrMalformed and
// jserial.ErrLimit, a payload the defaults take; a raised MaxDepth takes a payload nested
// deeper than the default refuses; the rpc.Channels of one channel.Channel share the
// decoding, the largest of their limits applying.
func TestConfigLimits(t *testing.T) {
	deep, wide, names := nested(20), make([]any, 200), manyStrings(200)
	deeper := nested(1500)
	cases := []struct {
		name    string
		limits  jserial.DecoderConfig
		payload any
	}{
		{"MaxDepth", jserial.DecoderConfig{MaxDepth: 8}, deep},
		{"MaxArrayLen", jserial.DecoderConfig{MaxArrayLen: 100}, wide},
		{"MaxHandles", jserial.DecoderConfig{MaxHandles: 100}, names},
		{"MaxBytes", jserial.DecoderConfig{MaxBytes: 1 << 10}, names},
	}
	// deliver hands the reply to c's dispatcher and reports whether it reached LeftOver.
	deliver := func(c *Channel, got *int, b []byte) (bool, error) {
		before := *got
		err := c.disp.MessageReceived(&channel.Message{Data: b, Source: channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000}})
		return *got > before, err
	}
	newChannel := func(ch *channel.Channel, id string, limits jserial.DecoderConfig, got *int) *Channel {
		t.Helper()
		c, err := New(Config{Channel: ch, ID: []byte(id), Limits: limits,
			Handler:  HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil }),
			LeftOver: func(any, channel.Member) { *got++ }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		return c
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got int
			b := replyStream(t, "x", tc.payload)
			def := newChannel(limitsChannel(t), "x", jserial.DecoderConfig{}, &got)
			if ok, err := deliver(def, &got, b); !ok || err != nil {
				t.Fatalf("with the default limits, the %d-byte reply: delivered %v, %v", len(b), ok, err)
			}
			ch := limitsChannel(t)
			low := newChannel(ch, "x", tc.limits, &got)
			ok, err := deliver(low, &got, b)
			if ok || !errors.Is(err, ErrMalformed) || !errors.Is(err, jserial.ErrLimit) {
				t.Fatalf("with %+v, the %d-byte reply: delivered %v, %v; want refused with ErrMalformed and jserial.ErrLimit",
					tc.limits, len(b), ok, err)
			}
			// Another rpc.Channel on the channel with the default limits: the largest apply.
			other := newChannel(ch, "other", jserial.DecoderConfig{}, &got)
			if ok, err := deliver(low, &got, b); !ok || err != nil {
				t.Fatalf("beside an rpc.Channel with the default limits: delivered %v, %v", ok, err)
			}
			_ = other.Close(context.Background())
			if ok, err := deliver(low, &got, b); ok || !errors.Is(err, jserial.ErrLimit) {
				t.Fatalf("once the other rpc.Channel closed: delivered %v, %v; want refused again", ok, err)
			}
		})
	}
	t.Run("raised MaxDepth", func(t *testing.T) {
		var got int
		b := replyStream(t, "x", deeper)
		def := newChannel(limitsChannel(t), "x", jserial.DecoderConfig{}, &got)
		if ok, err := deliver(def, &got, b); ok || !errors.Is(err, ErrMalformed) || !errors.Is(err, jserial.ErrLimit) {
			t.Fatalf("with the default limits, a reply nested 1500 deep: delivered %v, %v; want refused", ok, err)
		}
		high := newChannel(limitsChannel(t), "x", jserial.DecoderConfig{MaxDepth: 4000}, &got)
		if ok, err := deliver(high, &got, b); !ok || err != nil {
			t.Fatalf("with MaxDepth 4000, a reply nested 1500 deep: delivered %v, %v", ok, err)
		}
	})
}

// TestConfigLimitsErrors: a negative limit, or a Limits.MaxBytes other than a non-zero
// MaxMessageBytes, is refused by New; Limits.MaxBytes alone sets MaxMessageBytes.
func TestConfigLimitsErrors(t *testing.T) {
	ch := limitsChannel(t)
	h := HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })
	for _, cfg := range []Config{
		{Limits: jserial.DecoderConfig{MaxDepth: -1}},
		{Limits: jserial.DecoderConfig{MaxHandles: -1}},
		{Limits: jserial.DecoderConfig{MaxArrayLen: -1}},
		{Limits: jserial.DecoderConfig{MaxBytes: -1}},
		{Limits: jserial.DecoderConfig{MaxBytes: 1 << 10}, MaxMessageBytes: 2 << 10},
	} {
		cfg.Channel, cfg.ID, cfg.Handler = ch, []byte("x"), h
		if c, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			if err == nil {
				_ = c.Close(context.Background())
			}
			t.Errorf("New with Limits %+v, MaxMessageBytes %d: %v, want ErrInvalidConfig", cfg.Limits, cfg.MaxMessageBytes, err)
		} else if cfg.Limits.Validate() != nil && !errors.Is(err, jserial.ErrInvalidConfig) {
			t.Errorf("New with Limits %+v: %v, want jserial's Validate error wrapped too", cfg.Limits, err)
		}
	}
	c, err := New(Config{Channel: ch, ID: []byte("x"), Handler: h, Limits: jserial.DecoderConfig{MaxBytes: 1 << 10}, MaxMessageBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close(context.Background())
	c, err = New(Config{Channel: ch, ID: []byte("x"), Handler: h, Limits: jserial.DecoderConfig{MaxBytes: 1 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if c.cfg.MaxMessageBytes != 1<<10 {
		t.Errorf("Limits.MaxBytes 1 KiB: MaxMessageBytes %d", c.cfg.MaxMessageBytes)
	}
}

// TestConfigLimitsLostReplyNamed: a reply beyond the caller's Limits is not delivered,
// and the call, once its context ends, names the loss with ErrMalformed and
// jserial.ErrLimit, as for a reply beyond MaxMessageBytes.
func TestConfigLimitsLostReplyNamed(t *testing.T) {
	nw := channeltest.NewNetwork()
	start := func() *channel.Channel {
		d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
		if err != nil {
			t.Fatal(err)
		}
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: []channel.Interceptor{d}, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		return ch
	}
	caller, peer := start(), start()
	p, err := New(Config{Channel: peer, ID: []byte("x"),
		Handler: HandlerFunc(func(any, channel.Member) (any, error) { return nested(20), nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	c, err := New(Config{Channel: caller, ID: []byte("x"), Limits: jserial.DecoderConfig{MaxDepth: 8},
		Handler: HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	// Cancel the call once its collector holds the loss.
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			c.mu.Lock()
			lost := 0
			for _, col := range c.pending {
				col.mu.Lock()
				lost += len(col.losses)
				col.mu.Unlock()
			}
			c.mu.Unlock()
			if lost > 0 {
				cancel()
				return
			}
		}
	}()
	rs, err := c.Call(ctx, []channel.Member{peer.LocalMember()}, "req", AllReply, channel.OptUseAck)
	if len(rs) != 0 || !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrMalformed) || !errors.Is(err, jserial.ErrLimit) {
		t.Fatalf("a reply nested 20 deep to a caller with MaxDepth 8: %d responses, %v; want none, the loss named", len(rs), err)
	}
}
