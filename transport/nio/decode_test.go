package nio

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// memInbound is an in-memory stand-in for gnet's inbound buffer.
type memInbound struct{ buf []byte }

func (m *memInbound) InboundBuffered() int { return len(m.buf) }

func (m *memInbound) Peek(n int) ([]byte, error) {
	if n > len(m.buf) {
		return nil, errors.New("short buffer")
	}
	if n <= 0 {
		n = len(m.buf)
	}
	return m.buf[:n], nil
}

func (m *memInbound) Read(p []byte) (int, error) {
	n := copy(p, m.buf)
	m.buf = m.buf[n:]
	return n, nil
}

func (m *memInbound) Discard(n int) (int, error) {
	n = min(n, len(m.buf))
	m.buf = m.buf[n:]
	return n, nil
}

type decoded struct {
	opts uint32
	id   []byte
	data []byte
	src  []byte
	size int
}

// drain decodes everything in in; it returns the messages and the first error. With a
// buffer pool, each large frame's payload is copied and its buffer given back at once, as
// an application releasing every message would.
func drain(d *decoder, in inbound, out []decoded) ([]decoded, error) {
	for {
		cd, n, ok, err := d.next(in)
		if err != nil || !ok {
			return out, err
		}
		data := cd.Message
		if buf := d.takeBuffer(); buf != nil && d.bufs != nil {
			data = bytes.Clone(data)
			d.bufs.put(buf)
		}
		out = append(out, decoded{cd.Options, cd.UniqueID, data, cd.AddressBytes, n})
	}
}

func testSource() []byte {
	m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, AliveTime: 42}
	b, _ := m.MarshalBinary()
	return b
}

func TestDecoderChunked(t *testing.T) {
	src := testSource()
	var stream []byte
	var want []decoded
	for i, size := range []int{0, 1, 100, 5000} {
		id := []byte{byte(i), 1, 2, 3}
		data := pattern(size)
		f := wire.AppendChannelDataFrame(nil, uint32(i), 7, id, src, data)
		stream = append(stream, f...)
		want = append(want, decoded{uint32(i), id, data, src, len(f)})
	}
	var pending atomic.Int64
	for _, tc := range []struct {
		chunk, large int
		pending      *atomic.Int64
	}{
		{1, 0, nil}, {3, 0, nil}, {11, 0, nil}, {18, 0, nil}, {64, 0, nil}, {1 << 20, 0, nil},
		{1, 64, nil}, {7, 64, &pending}, {100, 64, nil}, {1000, 64, &pending}, {1 << 20, 64, &pending},
	} {
		chunk := tc.chunk
		d := decoder{maxBody: 1 << 20, large: tc.large, pending: tc.pending, limit: 8192}
		in := &memInbound{}
		var got []decoded
		var err error
		for off := 0; off < len(stream); off += chunk {
			in.buf = append(in.buf, stream[off:min(off+chunk, len(stream))]...)
			if got, err = drain(&d, in, got); err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
		}
		if len(got) != len(want) || in.InboundBuffered() != 0 {
			t.Fatalf("chunk %d: %d messages, %d bytes left", chunk, len(got), in.InboundBuffered())
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.opts != w.opts || !bytes.Equal(g.id, w.id) || !bytes.Equal(g.data, w.data) || !bytes.Equal(g.src, w.src) || g.size != w.size {
				t.Fatalf("chunk %d message %d differs", chunk, i)
			}
		}
		if pending.Load() != 0 {
			t.Fatalf("reservation not returned: %d", pending.Load())
		}
	}
}

// chunkReader is a blocking socket that returns at most chunk bytes a read, then io.EOF.
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// memSocket stands in for a connection's socket behind gnet's buffer: a non-blocking read
// returns what it holds, EAGAIN when empty.
type memSocket struct {
	buf   []byte
	reads int
}

func (s *memSocket) read(p []byte) (int, error) {
	s.reads++
	if len(s.buf) == 0 {
		return -1, syscall.EAGAIN
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// A large frame whose start is in gnet's buffer is completed by reading the socket
// directly, never past the frame: the next frame's bytes stay in the socket for gnet. A
// frame the socket cannot complete yet waits, without a read that finds nothing, and is
// completed by a later direct read with nothing new in gnet's buffer.
func TestDecoderReadsLargeFramesFromTheSocket(t *testing.T) {
	src := testSource()
	big := wire.AppendChannelDataFrame(nil, 1, 7, []byte{1}, src, pattern(5000))
	small := wire.AppendChannelDataFrame(nil, 2, 7, []byte{2}, src, pattern(10))
	var pending atomic.Int64
	sock := &memSocket{buf: slices.Concat(big[300:], small)}
	d := decoder{maxBody: 1 << 20, large: 64, pending: &pending, limit: 1 << 20, direct: sock.read}
	in := &memInbound{buf: bytes.Clone(big[:300])}
	got, err := drain(&d, in, nil)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].data, pattern(5000)) || got[0].size != len(big) {
		t.Fatalf("%d messages, %v", len(got), err)
	}
	if !bytes.Equal(sock.buf, small) || sock.reads != 1 {
		t.Fatalf("%d reads left %d bytes in the socket, want 1 leaving the %d of the next frame", sock.reads, len(sock.buf), len(small))
	}

	sock = &memSocket{buf: bytes.Clone(big[300:1000])}
	d.direct = sock.read
	in.buf = bytes.Clone(big[:300])
	if got, err := drain(&d, in, nil); err != nil || len(got) != 0 || len(d.asm) != 1000 || sock.reads != 1 {
		t.Fatalf("partial: %d messages, %d bytes assembled in %d reads, %v", len(got), len(d.asm), sock.reads, err)
	}
	sock.buf = bytes.Clone(big[1000:])
	if got, err := drain(&d, in, nil); err != nil || len(got) != 1 || !bytes.Equal(got[0].data, pattern(5000)) {
		t.Fatalf("rest: %d messages, %v", len(got), err)
	}
	if pending.Load() != 0 {
		t.Fatalf("pending %d after the frames completed", pending.Load())
	}
}

// On a trusted connection, a large frame is reserved whole in the receiver's pending bytes
// when it starts; one that does not fit is refused before anything is allocated, and a
// finished or abandoned frame gives its reservation back.
func TestDecoderPendingBudget(t *testing.T) {
	src := testSource()
	frame := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, pattern(5000))
	var pending atomic.Int64
	trusted := func() *decoder {
		d := &decoder{maxBody: 1 << 20, large: 64, pending: &pending, limit: int64(len(frame)) + 100}
		d.trusted.Store(true)
		return d
	}
	a, b := trusted(), trusted()
	inA := &memInbound{buf: bytes.Clone(frame[:100])}
	if got, err := drain(a, inA, nil); err != nil || len(got) != 0 {
		t.Fatalf("first part: %d, %v", len(got), err)
	}
	if pending.Load() != int64(len(frame)) {
		t.Fatalf("pending %d, want %d", pending.Load(), len(frame))
	}
	if _, err := drain(b, &memInbound{buf: bytes.Clone(frame[:100])}, nil); !errors.Is(err, errOverBudget) {
		t.Fatalf("second frame: %v, want errOverBudget", err)
	}
	if pending.Load() != int64(len(frame)) || b.asm != nil {
		t.Fatalf("refusal kept a reservation: pending %d", pending.Load())
	}
	inA.buf = append(inA.buf, frame[100:]...)
	if got, err := drain(a, inA, nil); err != nil || len(got) != 1 {
		t.Fatalf("rest: %d, %v", len(got), err)
	}
	if pending.Load() != 0 {
		t.Fatalf("pending %d after the frame completed", pending.Load())
	}
	c := decoder{maxBody: 1 << 20, large: 64, pending: &pending, limit: 1 << 20}
	if _, err := drain(&c, &memInbound{buf: bytes.Clone(frame[:100])}, nil); err != nil || pending.Load() == 0 {
		t.Fatalf("%v, pending %d", err, pending.Load())
	}
	c.abandon()
	if pending.Load() != 0 {
		t.Fatalf("pending %d after abandon", pending.Load())
	}
}

// On a connection that has not carried a member's frame, a large frame's header reserves
// only minAssembly, and the whole frame is reserved once more than that arrived (from
// direct reads, or from the connection's buffer); a frame whose growth does not fit the
// budget is refused, and every reservation is given back.
func TestDecoderUntrustedReservesAsBytesArrive(t *testing.T) {
	src := testSource()
	frame := wire.AppendChannelDataFrame(nil, 0, 1, []byte{1}, src, pattern(1<<20))
	var pending atomic.Int64
	sock := &memSocket{}
	d := decoder{maxBody: 2 << 20, pending: &pending, limit: 4 << 20, bufs: newBufPool(8 << 20), direct: sock.read}
	in := &memInbound{buf: bytes.Clone(frame[:wire.FrameHeaderLen])}
	if got, err := drain(&d, in, nil); err != nil || len(got) != 0 {
		t.Fatalf("header: %d, %v", len(got), err)
	}
	if pending.Load() != minAssembly {
		t.Fatalf("a header announcing %d bytes reserves %d, want %d", len(frame), pending.Load(), minAssembly)
	}
	sock.buf = bytes.Clone(frame[wire.FrameHeaderLen : 300<<10])
	if got, err := drain(&d, in, nil); err != nil || len(got) != 0 {
		t.Fatalf("part: %d, %v", len(got), err)
	}
	if p := pending.Load(); p != int64(len(frame)) || len(d.asm) != 300<<10 {
		t.Fatalf("%d bytes arrived, %d reserved: want the whole frame, %d", len(d.asm), p, len(frame))
	}
	in.buf = bytes.Clone(frame[300<<10:])
	if got, err := drain(&d, in, nil); err != nil || len(got) != 1 || !bytes.Equal(got[0].data, pattern(1<<20)) {
		t.Fatalf("rest: %d, %v", len(got), err)
	}
	if pending.Load() != 0 {
		t.Fatalf("pending %d after the frame completed", pending.Load())
	}

	small := decoder{maxBody: 2 << 20, pending: &pending, limit: 256 << 10, bufs: newBufPool(8 << 20)}
	in = &memInbound{buf: bytes.Clone(frame[:wire.FrameHeaderLen])}
	if _, err := drain(&small, in, nil); err != nil || pending.Load() != minAssembly {
		t.Fatalf("header within the budget: %v, pending %d", err, pending.Load())
	}
	in.buf = append(in.buf, frame[wire.FrameHeaderLen:300<<10]...)
	if _, err := drain(&small, in, nil); !errors.Is(err, errOverBudget) {
		t.Fatalf("growth past the budget: %v, want errOverBudget", err)
	}
	small.abandon()
	if pending.Load() != 0 {
		t.Fatalf("pending %d after abandon", pending.Load())
	}
}

func TestParseOwnedMatchesWire(t *testing.T) {
	src := testSource()
	good := wire.AppendChannelData(nil, 3, 9, []byte{1, 2}, src, []byte("payload"))
	cd, err := parseOwned(bytes.Clone(good), nil)
	if err != nil || string(cd.Message) != "payload" || !bytes.Equal(cd.AddressBytes, src) {
		t.Fatalf("%+v, %v", cd, err)
	}
	// Every truncation and every corrupted length must be judged as wire judges it.
	for cut := range len(good) {
		_, werr := wire.ParseChannelData(good[:cut], nil)
		_, oerr := parseOwned(bytes.Clone(good[:cut]), nil)
		if (werr == nil) != (oerr == nil) {
			t.Fatalf("cut %d: wire %v, owned %v", cut, werr, oerr)
		}
	}
	for i := 12; i < len(good); i++ {
		for _, v := range []byte{0, 1, 0x7f, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] = v
			_, werr := wire.ParseChannelData(b, nil)
			_, oerr := parseOwned(bytes.Clone(b), nil)
			if (werr == nil) != (oerr == nil) {
				t.Fatalf("byte %d = %#x: wire %v, owned %v", i, v, werr, oerr)
			}
		}
	}
}

func TestDecoderRejects(t *testing.T) {
	src := testSource()
	good := wire.AppendChannelDataFrame(nil, 2, 1, []byte{1}, src, []byte("x"))
	for name, b := range map[string][]byte{
		"start-marker-early": []byte("FLX"),
		"oversize-bad-head":  append(wire.AppendFrameHeader(nil, 1<<21), make([]byte, 12+4+4+4)...), // an empty address
		"negative":           wire.AppendFrameHeader(nil, -5),
		"end-marker":         append(good[:len(good)-1:len(good)-1], '!'),
		"no-address":         wire.AppendChannelDataFrame(nil, 2, 1, []byte{1}, nil, []byte("x")),
		"bad-address":        wire.AppendChannelDataFrame(nil, 2, 1, []byte{1}, []byte("TRIBES-Bjunk"), nil),
	} {
		d := decoder{maxBody: 1 << 20}
		in := &memInbound{buf: bytes.Clone(b)}
		if _, err := drain(&d, in, nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if in.InboundBuffered() != len(b) {
			t.Errorf("%s: consumed bytes before failing", name)
		}
	}
	// A header announcing a 512 MiB body waits, under the limit and (until the sender is
	// known) over it. Over the limit it allocates nothing for the frame; under it, on a
	// connection no member's frame made trusted, only the 64 KiB start of the frame's
	// buffer. Either way well under 1 MiB, whatever the header claims.
	for _, max := range []int{1 << 30, 1 << 20} {
		var pending atomic.Int64
		d := decoder{maxBody: max, pending: &pending, limit: 256 << 20}
		in := &memInbound{buf: wire.AppendFrameHeader(nil, 1<<29)}
		var got []decoded
		var err error
		alloc := allocatedBy(func() { got, err = drain(&d, in, nil) })
		if err != nil || len(got) != 0 {
			t.Fatalf("max %d: got %d, %v", max, len(got), err)
		}
		if alloc >= 1<<20 {
			t.Errorf("max %d: a header announcing 512 MiB allocated %d bytes", max, alloc)
		}
	}
}

// allocatedBy returns the bytes the heap allocated while f ran (the test's own goroutine
// and any other that ran meanwhile: an upper bound of f's).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A frame over maxBody is refused once its header names the sender, whatever has arrived
// of the rest: the error is a *lostFrame with the sender and the announced size.
func TestDecoderOversizeNamesTheSender(t *testing.T) {
	src := testSource()
	f := wire.AppendChannelDataFrame(nil, 6, 7, []byte{9}, src, make([]byte, 5000))
	head := wire.FrameHeaderLen + 12 + 4 + 1 + 4 + len(src) + 4
	for _, n := range []int{wire.FrameHeaderLen, head - 1, head, head + 100, len(f)} {
		d := decoder{maxBody: 4096}
		in := &memInbound{buf: bytes.Clone(f[:n])}
		_, err := drain(&d, in, nil)
		var lost *lostFrame
		switch {
		case n < head && err != nil:
			t.Fatalf("%d bytes: %v, want a wait for the header", n, err)
		case n < head:
		case !errors.As(err, &lost) || !errors.Is(err, channel.ErrMessageTooLarge):
			t.Fatalf("%d bytes: %v, want a lost frame too large", n, err)
		case !bytes.Equal(lost.source.AddressBytes, src) || lost.size != len(f)-wire.FrameOverhead || lost.source.Options != 6:
			t.Fatalf("%d bytes: source %x, size %d, options %d", n, lost.source.AddressBytes, lost.size, lost.source.Options)
		}
	}
}

// A connection that closes in the middle of a frame reports it lost once the header named
// the sender, for a small frame (in gnet's buffer) and a large one (being assembled).
func TestDecoderCutOff(t *testing.T) {
	src := testSource()
	f := wire.AppendChannelDataFrame(nil, 2, 7, []byte{9}, src, make([]byte, 3000))
	head := wire.FrameHeaderLen + 12 + 4 + 1 + 4 + len(src) + 4
	for _, large := range []int{0, 1000} {
		for _, n := range []int{0, head - 1, head, len(f) - 1} {
			d := decoder{maxBody: 1 << 20, large: large}
			in := &memInbound{buf: bytes.Clone(f[:n])}
			if got, err := drain(&d, in, nil); err != nil || len(got) != 0 {
				t.Fatalf("got %d, %v", len(got), err)
			}
			err := d.cutOff(in)
			var lost *lostFrame
			if n < head {
				if err != nil {
					t.Fatalf("large %d, %d bytes: %v, want nothing reported", large, n, err)
				}
				continue
			}
			if !errors.As(err, &lost) || !errors.Is(err, channel.ErrConnectionLost) ||
				!bytes.Equal(lost.source.AddressBytes, src) || lost.size != len(f)-wire.FrameOverhead {
				t.Fatalf("large %d, %d bytes: %v", large, n, err)
			}
		}
	}
}

// FuzzReceiverStream feeds arbitrary bytes to the receive-side decoding step, whole and in
// chunks, as gnet would deliver them. It must never panic, must decode the same messages
// whatever the chunking, and must agree on whether the stream is corrupt.
func FuzzReceiverStream(f *testing.F) {
	src := testSource()
	one := wire.AppendChannelDataFrame(nil, 3, 1234, channel.NewMessageID(), src, []byte("hello"))
	f.Add(one, uint8(1))
	f.Add(append(bytes.Clone(one), one...), uint8(7))
	f.Add(append(bytes.Clone(one), one[:20]...), uint8(11))
	f.Add(wire.AckFrame, uint8(3))
	f.Add([]byte("FLT2002\xff\xff\xff\xffTLF2003"), uint8(2))
	f.Add([]byte("garbage"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		const maxBody = 4096
		whole := decoder{maxBody: maxBody}
		in := &memInbound{buf: bytes.Clone(data)}
		want, werr := drain(&whole, in, nil)
		if werr == nil {
			_ = whole.cutOff(in) // what a close would report: must not panic
		}
		consumed := 0
		for _, m := range want {
			if m.size < wire.FrameOverhead || len(m.data) > maxBody {
				t.Fatalf("implausible message: size %d, data %d", m.size, len(m.data))
			}
			consumed += m.size
		}
		if consumed+in.InboundBuffered() != len(data) {
			t.Fatalf("consumed %d + left %d != %d", consumed, in.InboundBuffered(), len(data))
		}

		// Odd splits also exercise the assembly of large frames (threshold lowered).
		chunk := int(split)%32 + 1
		part := decoder{maxBody: maxBody}
		if split&1 == 1 {
			part.large = 40
		}
		in = &memInbound{}
		var got []decoded
		var gerr error
		for off := 0; off < len(data) && gerr == nil; off += chunk {
			in.buf = append(in.buf, data[off:min(off+chunk, len(data))]...)
			got, gerr = drain(&part, in, got)
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("whole: %v, chunked by %d: %v", werr, chunk, gerr)
		}
		// The same input through the large-frame path in one go.
		owned := decoder{maxBody: maxBody, large: 1}
		in = &memInbound{buf: bytes.Clone(data)}
		got2, oerr := drain(&owned, in, nil)
		if (werr == nil) != (oerr == nil) || len(got2) != len(want) {
			t.Fatalf("whole: %d, %v; assembled: %d, %v", len(want), werr, len(got2), oerr)
		}
		// Arriving in chunks, with gnet reading at most half a chunk per round and large
		// frames completed by direct reads of the socket.
		direct := decoder{maxBody: maxBody, large: 40}
		sock := &memSocket{}
		direct.direct = sock.read
		in = &memInbound{}
		var got3 []decoded
		var derr error
		for off := 0; derr == nil && (off < len(data) || len(sock.buf) > 0); off += chunk {
			sock.buf = append(sock.buf, data[min(off, len(data)):min(off+chunk, len(data))]...)
			g := min(len(sock.buf), chunk/2+1)
			in.buf = append(in.buf, sock.buf[:g]...)
			sock.buf = sock.buf[g:]
			got3, derr = drain(&direct, in, got3)
		}
		if (werr == nil) != (derr == nil) {
			t.Fatalf("whole: %v, direct reads: %v", werr, derr)
		}
		// The same, with large frames read into pooled buffers that are given back as soon
		// as they are decoded (drain), so later frames reuse them.
		var pending atomic.Int64
		pooled := decoder{maxBody: maxBody, large: 40, pending: &pending, limit: 1 << 20, bufs: newBufPool(3 * maxBody)}
		in = &memInbound{}
		var got4 []decoded
		var perr error
		for off := 0; off < len(data) && perr == nil; off += chunk {
			in.buf = append(in.buf, data[off:min(off+chunk, len(data))]...)
			got4, perr = drain(&pooled, in, got4)
		}
		if (werr == nil) != (perr == nil) {
			t.Fatalf("whole: %v, pooled: %v", werr, perr)
		}
		pooled.abandon()
		if pending.Load() != 0 || pooled.bufs.held > pooled.bufs.max {
			t.Fatalf("pooled: %d bytes still reserved, %d held of %d", pending.Load(), pooled.bufs.held, pooled.bufs.max)
		}
		// EngineGoroutine's path: a connection buffer filled by reads of at most a chunk,
		// large frames completed by direct reads of the same socket.
		sr := &chunkReader{data: data, chunk: chunk}
		viaBuf := decoder{maxBody: maxBody, large: 40, direct: sr.Read}
		var cb connBuf
		var got5 []decoded
		var berr, rerr error
		for berr == nil && rerr == nil {
			if got5, berr = drain(&viaBuf, &cb, got5); berr == nil {
				_, rerr = cb.fill(sr)
			}
		}
		if berr == nil {
			_ = viaBuf.cutOff(&cb) // what the connection's close reports: must not panic
		}
		if errors.Is(rerr, errConnBufFull) {
			// The header of an oversize frame longer than the buffer: the connection is
			// closed, where gnet waits for more.
			return
		}
		if (werr == nil) != (berr == nil) {
			t.Fatalf("whole: %v, connection buffer: %v", werr, berr)
		}
		for _, g := range [][]decoded{got, got3, got4, got5} {
			if len(g) != len(want) {
				t.Fatalf("whole: %d messages, chunked by %d: %d", len(want), chunk, len(g))
			}
			for i := range want {
				if !bytes.Equal(g[i].data, want[i].data) || !bytes.Equal(g[i].id, want[i].id) || g[i].opts != want[i].opts {
					t.Fatalf("message %d differs", i)
				}
			}
		}
	})
}
