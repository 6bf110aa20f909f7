package nio

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// splitHeadDecoder is the decoder of a new connection to a receiver whose only member is
// testSource(), with strangers' share (1 MiB of 8 MiB) already holding used bytes.
func splitHeadDecoder(t *testing.T, used int64) (d *decoder, pending, strangers *atomic.Int64) {
	t.Helper()
	member, _, err := wire.ParseMember(testSource())
	if err != nil {
		t.Fatal(err)
	}
	pending, strangers = new(atomic.Int64), new(atomic.Int64)
	pending.Store(used)
	strangers.Store(used)
	d = &decoder{maxBody: 2 << 20, pending: pending, limit: 8 << 20, bufs: newBufPool(8 << 20),
		strangers: strangers, strangerLimit: 1 << 20,
		isMember: func(m *channel.Member) bool { return m.Key() == member.Key() }}
	return d, pending, strangers
}

// A member's first large frame on a new connection whose header (its sender) arrived in
// pieces was a stranger's: refused when strangers had spent their share
// (errStrangersOverBudget: its connection closed, FramesRefused, the sender retrying), and
// else charged to strangers for its first 64 KiB, until its buffer grew. Now its first
// bytes wait in the connection's buffer, charged to no one, until the header is complete,
// and the frame is the member's from there.
func TestMemberFrameWithSplitHeaderIsNotAStrangers(t *testing.T) {
	frame := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, testSource(), pattern(1<<20))
	const share = 1 << 20
	d, pending, strangers := splitHeadDecoder(t, share) // strangers hold their whole share
	in := &memInbound{buf: bytes.Clone(frame[:wire.FrameHeaderLen+10])}
	if got, err := drain(d, in, nil); err != nil || len(got) != 0 {
		t.Fatalf("a member's frame whose header is not complete yet, strangers' share spent: %d frames, %v", len(got), err)
	}
	var counted int64
	if !d.strangerHeld(in, &counted) || counted != 0 || strangers.Load() != share || pending.Load() != share {
		t.Fatalf("its %d bytes: %d counted in strangers' share (%d), pending %d", len(in.buf), counted, strangers.Load(), pending.Load())
	}
	in.buf = append(in.buf, frame[len(in.buf):200<<10]...)
	if got, err := drain(d, in, nil); err != nil || len(got) != 0 {
		t.Fatalf("once its header arrived: %d frames, %v", len(got), err)
	}
	if strangers.Load() != share || d.stranger {
		t.Fatalf("the member's frame is charged to strangers: share %d, want %d", strangers.Load(), share)
	}
	in.buf = append(in.buf, frame[200<<10:]...)
	got, err := drain(d, in, nil)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].data, pattern(1<<20)) {
		t.Fatalf("the rest: %d frames, %v", len(got), err)
	}
	if pending.Load() != share || strangers.Load() != share {
		t.Fatalf("after the frame: pending %d, strangers %d, want %d each", pending.Load(), strangers.Load(), share)
	}
}

// A member whose header is longer than connBufMin (a payload of some KiB) and arrives
// past it: its frame is the member's from the start, as soon as the member's identity
// (host, port, unique id, before the payload) arrived; it was a stranger's until the
// header was complete (TestMemberWithALongHeaderNotRefusedAsAStranger has it through the
// receiver). Only an identity beyond connBufMin (a domain of some KiB) starts as a
// stranger's, and moves out of strangers' share as soon as the header is complete (it
// stayed there until its first buffer of 64 KiB was full).
func TestMemberFrameCountedAsMemberOnceItsHeaderCompletes(t *testing.T) {
	for _, v := range []struct {
		name            string
		payload, domain int
		charged         int64 // to strangers while the header is incomplete
	}{{"payload", 6 << 10, 0, 0}, {"domain", 0, 6 << 10, minAssembly}} {
		t.Run(v.name, func(t *testing.T) {
			m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, AliveTime: 42,
				Payload: pattern(v.payload), Domain: pattern(v.domain)}
			if v.payload == 0 {
				m.Payload = nil
			}
			if v.domain == 0 {
				m.Domain = nil
			}
			src, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			frame := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, pattern(1<<20))
			d, pending, strangers := splitHeadDecoder(t, 0)
			d.isMember = func(c *channel.Member) bool { return c.Key() == m.Key() }
			in := &memInbound{buf: bytes.Clone(frame[:connBufMin])}
			if got, err := drain(d, in, nil); err != nil || len(got) != 0 {
				t.Fatalf("%d bytes of an incomplete header: %d frames, %v", connBufMin, len(got), err)
			}
			if strangers.Load() != v.charged || pending.Load() != minAssembly {
				t.Fatalf("an incomplete header of %d bytes charges %d to strangers (pending %d), want %d (%d)",
					connBufMin, strangers.Load(), pending.Load(), v.charged, minAssembly)
			}
			in.buf = append(in.buf, frame[connBufMin:16<<10]...)
			if got, err := drain(d, in, nil); err != nil || len(got) != 0 {
				t.Fatalf("the header complete: %d frames, %v", len(got), err)
			}
			if strangers.Load() != 0 {
				t.Fatalf("a member's frame whose header is complete still charges %d to strangers", strangers.Load())
			}
			d.abandon()
		})
	}
}

// With no sender check every sender is a member: a header still incomplete at
// connBufMin (a long one) is charged to no stranger's share either (it was, as a
// stranger's, until complete).
func TestLongHeaderWithoutSenderCheckIsAMembers(t *testing.T) {
	m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, Domain: pattern(6 << 10)}
	src, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	d, pending, strangers := splitHeadDecoder(t, 0)
	d.isMember = nil
	large := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, pattern(1<<20))
	if _, err := drain(d, &memInbound{buf: bytes.Clone(large[:connBufMin])}, nil); err != nil {
		t.Fatal(err)
	}
	if strangers.Load() != 0 || pending.Load() != minAssembly || d.stranger {
		t.Fatalf("a large frame's incomplete header of %d bytes: strangers %d, pending %d; want 0, %d", connBufMin, strangers.Load(), pending.Load(), minAssembly)
	}
	d.abandon()
	small := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, pattern(10<<10))
	var counted int64
	if !d.strangerHeld(&memInbound{buf: bytes.Clone(small[:connBufMin])}, &counted) || counted != 0 || strangers.Load() != 0 {
		t.Fatalf("a small frame's incomplete header of %d bytes: %d counted in strangers' share", connBufMin, counted)
	}
}

// A stranger gains nothing from splitting its header: once it is complete its frame is
// charged to strangers and refused beyond their share, and a header that does not
// complete within connBufMin bytes is a stranger's.
func TestStrangerFrameWithSplitHeaderStaysInItsShare(t *testing.T) {
	other := channel.Member{Host: []byte{10, 0, 0, 2}, Port: 4000, SecurePort: -1, UDPPort: -1}
	src, err := other.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	frame := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, pattern(1<<20))
	d, _, strangers := splitHeadDecoder(t, 0)
	in := &memInbound{buf: bytes.Clone(frame[:wire.FrameHeaderLen+10])}
	if _, err := drain(d, in, nil); err != nil || strangers.Load() != 0 {
		t.Fatalf("an incomplete header: %v, strangers %d", err, strangers.Load())
	}
	in.buf = append(in.buf, frame[len(in.buf):1000]...)
	if _, err := drain(d, in, nil); err != nil || strangers.Load() != minAssembly {
		t.Fatalf("the stranger's header complete: %v, strangers %d, want %d", err, strangers.Load(), minAssembly)
	}
	d.abandon()

	full, _, _ := splitHeadDecoder(t, 1<<20)
	in = &memInbound{buf: bytes.Clone(frame[:wire.FrameHeaderLen+10])}
	if _, err := drain(full, in, nil); err != nil {
		t.Fatalf("an incomplete header, the share spent: %v", err)
	}
	in.buf = append(in.buf, frame[len(in.buf):1000]...)
	if _, err := drain(full, in, nil); !errors.Is(err, errStrangersOverBudget) {
		t.Fatalf("the stranger's header complete, the share spent: %v, want errStrangersOverBudget", err)
	}

	// A header whose member field announces nearly 64 KiB, of which connBufMin arrived.
	long := bytes.Clone(frame[:wire.FrameHeaderLen+12+4+1])
	long = append(long, 0, 0, 0xf0, 0)
	long = append(long, make([]byte, connBufMin-len(long))...)
	d, _, strangers = splitHeadDecoder(t, 0)
	if _, err := drain(d, &memInbound{buf: long}, nil); err != nil || strangers.Load() != minAssembly {
		t.Fatalf("%d bytes of a header not complete: %v, strangers %d, want %d", len(long), err, strangers.Load(), minAssembly)
	}
	d.abandon()
	small := bytes.Clone(long)
	small[wire.FrameHeaderLen-1], small[wire.FrameHeaderLen-2] = 0, 0x40 // a 16 KiB frame: buffered, not assembled
	d, _, strangers = splitHeadDecoder(t, 0)
	var counted int64
	if !d.strangerHeld(&memInbound{buf: small}, &counted) || counted != int64(len(small)) || strangers.Load() != counted {
		t.Fatalf("%d buffered bytes of a small frame's incomplete header: %d counted in strangers' share", len(small), counted)
	}
}

// frameHead returns the start of a frame of total bytes from src: its frame header and
// the ChannelData header up to the message (which names the sender), nothing of the
// message.
func frameHead(total int, src []byte) []byte {
	head := 12 + 4 + 1 + 4 + len(src) + 4
	full := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, make([]byte, total-wire.FrameOverhead-head))
	return full[:wire.FrameHeaderLen+head]
}

// The same through the receiver, on both engines: strangers hold their whole share with
// the headers of large frames, and a member's first frame of nearly 1 MiB, on a new
// connection, arrives in two writes, the first ending inside its ChannelData header, read
// by the receiver before the second is written. It was refused and its connection closed
// (the sender retries); now it is delivered and acknowledged.
func TestMemberFirstFrameWithSplitHeaderThroughTheReceiver(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const (
			maxFrame = 1 << 20
			budget   = 4 << 20
			share    = budget / DefaultUntrustedShare
			conns    = share/minAssembly + 2
		)
		cfg.MaxFrameSize = maxFrame
		cfg.MaxPendingBytes = budget
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		member, _, err := wire.ParseMember(testSource())
		if err != nil {
			t.Fatal(err)
		}
		tr.SetSenderCheck(func(src *channel.Member) bool { return src.Key() == member.Key() })
		rec := newRecorder(4)
		if err := tr.Start(context.Background(), channel.SvcTransport, rec.rx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
		b := &node{t: tr, member: memberOf(tr)}

		stranger := channel.Member{Host: []byte{10, 0, 0, 2}, Port: 4000, SecurePort: -1, UDPPort: -1}
		src, err := stranger.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for range conns {
			if _, err := dialRaw(t, b).Write(frameHead(maxFrame, src)); err != nil {
				t.Fatal(err)
			}
		}
		testutil.EventuallyTrue(t, waitTimeout, "strangers' headers read", func() bool {
			st := tr.Stats()
			return st.UntrustedBytes/minAssembly+int64(st.FramesRefused) >= conns
		})
		st := tr.Stats()
		if st.UntrustedBytes != share {
			t.Fatalf("strangers hold %d bytes, want their whole share, %d", st.UntrustedBytes, share)
		}

		f := frame(testSource(), channel.OptUseAck, pattern(maxFrame-1024))
		c := dialRaw(t, b)
		if _, err := c.Write(f[:wire.FrameHeaderLen+10]); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the member's first bytes read", func() bool {
			return connStarted(tr, c.LocalAddr().String()) || tr.Stats().FramesRefused > st.FramesRefused
		})
		if n := tr.Stats().FramesRefused; n > st.FramesRefused {
			t.Fatalf("the member's first frame, its header not complete yet, is refused as a stranger's (FramesRefused %d, %d before)",
				n, st.FramesRefused)
		}
		if _, err := c.Write(f[wire.FrameHeaderLen+10:]); err != nil {
			t.Fatalf("the rest of the member's frame: %v (FramesRefused %d, %d before)", err, tr.Stats().FramesRefused, st.FramesRefused)
		}
		if kinds := readAcks(t, c, 1); kinds[0] != wire.Ack {
			t.Fatalf("the member's frame answered %v", kinds[0])
		}
		if m := rec.next(t); len(m.Data) != maxFrame-1024 {
			t.Fatalf("delivered %d bytes, want %d", len(m.Data), maxFrame-1024)
		}
		if now := tr.Stats(); now.FramesRefused != st.FramesRefused || now.UntrustedBytes != share {
			t.Fatalf("after the member's frame: FramesRefused %d (%d before), strangers' share %d (want %d)",
				now.FramesRefused, st.FramesRefused, now.UntrustedBytes, share)
		}
	})
}

// connStarted reports whether tr's receiver holds an open connection from local (the
// dialer's address) on which bytes arrived.
func connStarted(tr *Transport, local string) bool {
	r := tr.rcv
	if np := r.np; np != nil {
		np.mu.Lock()
		defer np.mu.Unlock()
		for gc := range np.conns {
			if gc.remote == local {
				return gc.started.Load()
			}
		}
		return false
	}
	r.cmu.Lock()
	defer r.cmu.Unlock()
	for rc := range r.conns {
		if rc.remote == local {
			return rc.started.Load()
		}
	}
	return false
}
