package replmap_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// BenchmarkStateTransfer measures a joiner taking the state of a lazy map of n entries
// (short string keys, int32 values, each backed up on the other node) from a donor, in
// memory (channeltest): the donor's reply and the joiner's decoding of it. It reports the
// reply's bytes per entry. The puts that fill the map are not timed.
//
//	go test -run '^$' -bench StateTransfer -benchtime 3x ./replmap/
func BenchmarkStateTransfer(b *testing.B) {
	for _, n := range []int{10_000, 250_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			nw := channeltest.NewNetwork()
			nodes := cluster(b, nw, 2)
			for i := range n {
				if _, err := nodes[i%2].m.Put(ctx(b), fmt.Sprint("k", i), int32(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			var bytes uint64
			for range b.N {
				b.StopTimer()
				joiner := newChannel(b, nw)
				testutil.EventuallyTrue(b, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 2 })
				newMap(b, joiner, replmap.Config{RPCTimeout: time.Minute})
				before := joiner.ch.Stats().BytesReceived
				b.StartTimer()
				start(b, joiner)
				b.StopTimer()
				if got := len(joiner.m.Keys()); got != n {
					b.Fatalf("joiner holds %d entries, want %d", got, n)
				}
				bytes += joiner.ch.Stats().BytesReceived - before
				_ = joiner.m.Stop(ctx(b))
				_ = joiner.ch.Stop(ctx(b), channel.SvcAll)
				b.StartTimer()
			}
			b.ReportMetric(float64(bytes)/float64(b.N)/float64(n), "B/entry")
		})
	}
}

// BenchmarkPut measures a Put on a node of a two-node lazy map (the other node holds the
// backup), in memory (channeltest): a new key, or the same key again (a MSG_REMOVE of
// the entry replaced first).
//
//	go test -run '^$' -bench 'Put$' -benchmem ./replmap/
func BenchmarkPut(b *testing.B) {
	for _, same := range []bool{false, true} {
		b.Run(fmt.Sprintf("samekey=%v", same), func(b *testing.B) {
			nodes := cluster(b, channeltest.NewNetwork(), 2)
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = fmt.Sprint("k", i)
			}
			c := ctx(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				k := keys[0]
				if !same {
					k = keys[i%len(keys)]
				}
				if _, err := nodes[0].m.Put(c, k, int32(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
