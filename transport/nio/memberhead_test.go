package nio

import (
	"bytes"
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// A frame's header is its ChannelData header up to the message: options, timestamp, id and
// the sender member, payload included. A member advertising a payload of a few KiB (a
// staticsvc member may carry up to 4 KiB, its default MaxPayloadSize) has a header longer
// than connBufMin: its first frame on a new connection, cut by a read after 4 KiB (the
// goroutine engine's first read is 4 KiB whatever arrived), was a stranger's until the
// header was complete, and while strangers held their whole share it was refused, a
// large frame at its start and a small one as its bytes waited: the member's message
// never got through while the strangers kept their connections. Now the sender is known
// once the member's identity (host, port, unique id: the key the channel's check looks
// up), before its payload, has arrived.
func TestMemberWithALongHeaderNotRefusedAsAStranger(t *testing.T) {
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
		member := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, AliveTime: 42,
			Payload: pattern(6 << 10)}
		src, err := member.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		tr.SetSenderCheck(func(s *channel.Member) bool { return s.Key() == member.Key() })
		rec := newRecorder(4)
		if err := tr.Start(context.Background(), channel.SvcTransport, rec.rx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
		b := &node{t: tr, member: memberOf(tr)}

		stranger := channel.Member{Host: []byte{10, 0, 0, 2}, Port: 4000, SecurePort: -1, UDPPort: -1}
		ssrc, err := stranger.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for range conns {
			if _, err := dialRaw(t, b).Write(frameHead(maxFrame, ssrc)); err != nil {
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

		// The member's first frame on a new connection, large and small, its first write
		// ending inside the header, past connBufMin.
		const cut = 5000
		for _, size := range []int{maxFrame - 16<<10, 20 << 10} {
			f := frame(src, channel.OptUseAck, pattern(size))
			head := wire.FrameHeaderLen + 12 + 4 + 16 + 4 + len(src) + 4
			if head <= cut || cut <= connBufMin {
				t.Fatalf("a header of %d bytes, cut at %d: want it cut past %d", head, cut, connBufMin)
			}
			c := dialRaw(t, b)
			if _, err := c.Write(f[:cut]); err != nil {
				t.Fatal(err)
			}
			testutil.EventuallyTrue(t, waitTimeout, "the member's first bytes read", func() bool {
				return connStarted(tr, c.LocalAddr().String()) || tr.Stats().FramesRefused > st.FramesRefused
			})
			if now := tr.Stats(); now.FramesRefused > st.FramesRefused || now.UntrustedBytes != share {
				t.Fatalf("a %d-byte frame of a member whose header is %d bytes long, %d of them arrived: refused as a stranger's "+
					"(FramesRefused %d, %d before; strangers' share %d of %d)", len(f), head, cut, now.FramesRefused, st.FramesRefused, now.UntrustedBytes, share)
			}
			if _, err := c.Write(f[cut:]); err != nil {
				t.Fatalf("the rest of the member's frame: %v", err)
			}
			if kinds := readAcks(t, c, 1); kinds[0] != wire.Ack {
				t.Fatalf("the member's frame answered %v", kinds[0])
			}
			if m := rec.next(t); len(m.Data) != size {
				t.Fatalf("delivered %d bytes, want %d", len(m.Data), size)
			}
		}
		if now := tr.Stats(); now.FramesRefused != st.FramesRefused || now.UntrustedBytes != share {
			t.Fatalf("after the member's frames: FramesRefused %d (%d before), strangers' share %d (want %d)",
				now.FramesRefused, st.FramesRefused, now.UntrustedBytes, share)
		}
	})
}

// memberKeyOf names the sender once its identity arrived, whatever the cut, never before,
// and not for a malformed member.
func TestMemberKeyOfEveryCut(t *testing.T) {
	m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, Domain: []byte("d"),
		Payload: pattern(100)}
	src, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	body := frame(src, 0, []byte("x"))[wire.FrameHeaderLen:]
	known := 12 + 4 + 16 + 4 + len(src) - len(m.Payload) - 4 - 10 // up to the unique id's end

	var got channel.Member // reused, as a decoder does
	for n := range len(body) {
		ok := memberKeyOf(body[:n], &got)
		if ok != (n >= known) || ok && got.Key() != m.Key() {
			t.Fatalf("%d bytes of %d: ok %v (want %v), key %v", n, len(body), ok, n >= known, got.Key() == m.Key())
		}
	}
	bad := bytes.Clone(body)
	bad[12+4+16+4] = 'X' // the TRIBES-B marker
	if memberKeyOf(bad, new(channel.Member)) {
		t.Fatal("a member without its marker named")
	}
}
