package nio

import (
	"bytes"
	"sync/atomic"
	"testing"
)

// BenchmarkGnetLargeFrameReceive measures the gnet receiver alone taking 1 MiB frames
// (no send options) that a plain TCP connection writes back to back: conn=one writes them
// all on one connection, trusted once its first member's frame arrived (each frame's
// buffer reserved whole at its header); conn=each opens a connection per frame, so every
// frame is a first frame on a connection not trusted yet, whose buffer is reserved in
// steps (decoder.startAssembly). copied-B/frame is what the decoder copied per frame out
// of gnet's inbound buffer into the frame's buffer (assembleCopyHook), the rest being
// read straight from the socket; grown-B/frame what it copied from a smaller buffer of
// the frame into the whole one (growCopyHook).
func BenchmarkGnetLargeFrameReceive(b *testing.B) {
	const size = 1 << 20
	var copied, grown atomic.Int64
	assembleCopyHook = func(n int) { copied.Add(int64(n)) }
	growCopyHook = func(n int) { grown.Add(int64(n)) }
	b.Cleanup(func() { assembleCopyHook, growCopyHook = nil, nil })
	for _, v := range []struct {
		name string
		each bool
	}{{"conn=one", false}, {"conn=each", true}} {
		b.Run(v.name, func(b *testing.B) {
			cnt := newCountingRx()
			recv := startNode(b, benchConfig(), cnt.rx)
			f := frame(recv.wire, 0, bytes.Repeat([]byte{7}, size))
			c := dialRaw(b, recv)
			b.SetBytes(size)
			b.ReportAllocs()
			wait := cnt.expect(b.N)
			copied.Store(0)
			grown.Store(0)
			b.ResetTimer()
			for range b.N {
				if v.each {
					c = dialRaw(b, recv)
				}
				if _, err := c.Write(f); err != nil {
					b.Fatal(err)
				}
				if v.each {
					_ = c.Close()
				}
			}
			wait(b)
			b.StopTimer()
			b.ReportMetric(float64(copied.Load())/float64(b.N), "copied-B/frame")
			b.ReportMetric(float64(grown.Load())/float64(b.N), "grown-B/frame")
		})
	}
}
