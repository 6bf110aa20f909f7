package interceptorinterop_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
)

// TestGoOnlyCompressionReachesJavaCompressed: zstd and s2 have no Java counterpart
// (docs/compatibility.md): a Java node hands their compressed bytes, flag set, to its
// listeners.
func TestGoOnlyCompressionReachesJavaCompressed(t *testing.T) {
	p := javapeer.Start(t)
	data := bytes.Repeat([]byte("compressible session data; "), 40)
	for _, tc := range []struct {
		spec string
		flag channel.SendOptions
	}{{"zstd", interceptors.OptZstd}, {"s2", interceptors.OptS2}} {
		g := startGo(t, tc.spec, nodeOpts{}, javaMember(t, p))
		if err := g.ch.Send(ctxFor(t, 30*time.Second), nil, data, byteSync); err != nil {
			t.Fatal(err)
		}
		ev := p.WaitEvent(t, 30*time.Second, javapeer.IsMessage)
		if ev.Options&int(tc.flag) == 0 || ev.Size >= len(data) || ev.SHA256 == javapeer.SHA256Hex(data) {
			t.Fatalf("%s: Java delivered %d bytes, options %#x; want the %d bytes compressed, flag %#x",
				tc.spec, ev.Size, ev.Options, len(data), tc.flag)
		}
	}
}
