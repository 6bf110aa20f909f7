package interceptorinterop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// benchStacks are the stacks compared over loopback TCP, in configuration order. The TCP
// failure detector joins the typical stack when it is registered.
func benchStacks(b *testing.B) map[string]string {
	typical := "order,dispatch,gzip"
	if _, err := interceptors.Build("tcpfailure", nil); err == nil {
		typical += ",tcpfailure"
	}
	return map[string]string{"bare": "", "typical": typical}
}

// startBenchNode is startGo for benchmarks.
func startBenchNode(b *testing.B, spec string, members ...channel.Member) *channel.Channel {
	cfg := nio.DefaultConfig()
	cfg.Port = 0
	ch, err := node.New(node.Config{Transport: &cfg, StaticMembers: members, Interceptors: spec})
	if err != nil {
		b.Fatal(err)
	}
	ch.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ch.Stop(ctx, channel.SvcAll)
	})
	return ch
}

// BenchmarkLoopbackStack sends acknowledged messages between two Go nodes over loopback
// TCP (transport/nio), bare and through the typical stack, one sender goroutine.
//
//	go test -run '^$' -bench LoopbackStack -benchtime 3000x ./interop/interceptors/
func BenchmarkLoopbackStack(b *testing.B) {
	stacks := benchStacks(b)
	payloads := []struct {
		name string
		mk   func(int) []byte
	}{
		{"session", payload}, // realistic
		{"javacontent", func(n int) []byte { return javapeer.Content(n, 0, "") }}, // what Java's bench-send sends
	}
	for _, pl := range payloads {
		for _, size := range []int{1 << 10, 64 << 10} {
			data := pl.mk(size)
			for _, name := range []string{"bare", "typical"} {
				b.Run(fmt.Sprintf("%s/%s/%dKiB", pl.name, name, size>>10), func(b *testing.B) {
					b.Logf("stack %q", stacks[name])
					rx := startBenchNode(b, stacks[name])
					tx := startBenchNode(b, stacks[name], rx.LocalMember())
					to := []channel.Member{rx.LocalMember()}
					ctx := context.Background()
					for range 100 { // warm up connections and pools
						if err := tx.Send(ctx, to, data, channel.OptUseAck); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportAllocs()
					b.SetBytes(int64(size))
					for b.Loop() {
						if err := tx.Send(ctx, to, data, channel.OptUseAck); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// payload is realistic session-replication data (JSON-ish records).
func payload(size int) []byte {
	var out []byte
	for i := 0; len(out) < size; i++ {
		out = fmt.Appendf(out, `{"session":"%032x","ts":%d,"attr":"cart.item%d","sku":"SKU-%06d","qty":%d},`,
			uint64(i)*0x9e3779b97f4a7c15, 1700000000000+int64(i)*7919, i%17, (i*7919)%1000000, i%20)
	}
	return out[:size]
}
