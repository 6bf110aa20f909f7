//go:build linux

package nio

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// A connection's grown read buffer is given back while its read waits, and a new one is
// taken from the pool when data comes: frames of every size below largeFrame, cut at any
// byte (held parts below and above connBufMin, a header cut in two), arrive whole and in
// order, each with its own bytes.
func TestGoroutineReadBufferGivenBackKeepsStream(t *testing.T) {
	var mu sync.Mutex
	var got [][]byte
	b := startNode(t, goroutineConfig(), func(m *channel.Message) error {
		mu.Lock()
		got = append(got, bytes.Clone(m.Data))
		mu.Unlock()
		return nil
	})
	delivered := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	src := b.wire
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{10, 1000, 3000, 4090, 4200, 6000, 9000, 17000, 30000, largeFrame - 400}
	var want [][]byte
	var stream []byte
	var ends []int // where each frame ends in stream
	for i := range 120 {
		p := make([]byte, sizes[rng.IntN(len(sizes))])
		for j := range p {
			p[j] = byte(i*7 + j)
		}
		want = append(want, p)
		stream = append(stream, frame(src, 0, p)...)
		ends = append(ends, len(stream))
	}
	c := dialRaw(t, b)
	done := 0 // frames complete in what was written
	for off := 0; off < len(stream); {
		n := min(1+rng.IntN(40000), len(stream)-off)
		if _, err := c.Write(stream[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
		for done < len(ends) && ends[done] <= off {
			done++
		}
		// The reader delivers every frame written whole and then waits with the rest.
		testutil.EventuallyTrue(t, waitTimeout, "the frames written delivered", func() bool { return delivered() == done })
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("%d messages delivered, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("message %d: %d bytes, not the %d sent (first differs)", i, len(got[i]), len(want[i]))
		}
	}
}
