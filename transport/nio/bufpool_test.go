package nio

import (
	"bytes"
	"context"
	"runtime"
	"testing"
	"unsafe"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/thp"
)

// The pool hands a buffer back out once it was put, keeps no more than max bytes, and
// takes a frame's buffer back once however often its message is released.
func TestBufPoolReusesWithinItsBound(t *testing.T) {
	const size = 100 << 10
	p := newBufPool(3 * (size + pageSize))
	a := p.get(size)
	if len(a) != size || cap(a) < size || cap(a) >= size+pageSize {
		t.Fatalf("get: len %d cap %d", len(a), cap(a))
	}
	p.put(a)
	if b := p.get(size * 9 / 8); &b[:1][0] == &a[:1][0] {
		t.Fatal("a buffer handed out for a frame larger than it")
	}
	if b := p.get(size - 1000); &b[0] != &a[:1][0] || len(b) != size-1000 {
		t.Fatal("a buffer put back was not handed out again for a frame it holds within 1/8")
	}
	if b := p.get(size); &b[0] == &a[0] {
		t.Fatal("a buffer handed out twice")
	}
	small := make([]byte, 0, 40<<10)
	p.put(small)
	p.put(make([]byte, 0, 50<<10))
	if b := p.get(36 << 10); &b[:1][0] != &small[:1][0] {
		t.Fatal("not the best-fitting free buffer")
	}
	for range 5 {
		p.put(make([]byte, 0, size))
	}
	if p.held > p.max || p.held < p.max-size {
		t.Fatalf("held %d bytes after putting 5 buffers, max %d", p.held, p.max)
	}
	p.put(make([]byte, 0, 1<<30)) // over the bound: dropped
	if p.held > p.max {
		t.Fatalf("held %d of %d", p.held, p.max)
	}

	q := newBufPool(1 << 20)
	f := &pooledFrame{pool: q, buf: q.get(size)}
	c := int64(cap(f.buf))
	f.release()
	f.release()
	if q.held != c || len(q.free) != 1 {
		t.Fatalf("released twice: %d bytes in %d buffers held, want one of %d", q.held, len(q.free), c)
	}
	if newBufPool(-1) != nil || newBufPool(0) != nil {
		t.Fatal("a pool with no room")
	}
	var none *bufPool
	none.put(none.get(size)) // allocates; keeps nothing
}

// A large message whose receiver released it lends its buffer to the next large frame; a
// message not released keeps its own, untouched by the frames received after it.
func TestReleasedBufferIsReused(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		rec := newRecorder(4)
		b := startNode(t, cfg, rec.rx)
		a := startNode(t, testConfig(), nil)
		// Synchronized ACKs: each frame is read after the previous one was delivered.
		send := func(data []byte) *channel.Message {
			t.Helper()
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck|channel.OptSyncAck, data)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			return rec.next(t)
		}
		const size = 200 << 10
		one := send(pattern(size))
		buf := &one.Data[0]
		one.Release()
		if one.Data != nil {
			t.Fatal("Data still set after Release")
		}
		two := bytes.Repeat([]byte{2}, size)
		got2 := send(two)
		if &got2.Data[0] != buf {
			t.Fatal("the released buffer was not reused for the next frame of its size")
		}
		if !bytes.Equal(got2.Data, two) {
			t.Fatal("payload read into a reused buffer differs")
		}
		// got2 is not released: the next frames get other buffers and leave it intact.
		for i := range 3 {
			got := send(bytes.Repeat([]byte{byte(3 + i)}, size))
			if &got.Data[0] == &got2.Data[0] {
				t.Fatal("an unreleased message's buffer was reused")
			}
			got.Release()
		}
		if !bytes.Equal(got2.Data, two) {
			t.Fatal("an unreleased message's payload changed")
		}
		if n := b.t.rcv.bufs.reused.Load(); n < 3 {
			t.Fatalf("%d buffers reused, want at least 3", n)
		}
	})
}

// While huge pages are held (a state transfer runs), a new buffer for a large frame is
// advised for them before the frame is read into it (internal/thp); where that advice is
// off (not madvise mode, GODEBUG=disablethp=1), it is not.
func TestBufPoolAdvisesLargeBuffersForHugePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	defer thp.Hold()() // as a state transfer does
	b := newBufPool(DefaultMaxPooledBytes).get(hugeFrame + 5<<20)
	for _, at := range []int{0, len(b) / 2, len(b) - 1} {
		advised, err := thp.Advised(uintptr(unsafe.Pointer(&b[at])))
		if err != nil {
			t.Fatal(err)
		}
		if advised != thp.Enabled() {
			t.Fatalf("byte %d of a new %d-byte frame buffer: advised for huge pages %v, want %v", at, len(b), advised, thp.Enabled())
		}
	}
}
