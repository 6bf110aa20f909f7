package interceptors

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// typicalStack is the benchmarked stack in configuration order: Order above the
// dispatcher (so that async sends keep their order), gzip, and the TCP failure detector at
// the bottom when it is available (byte-transforming interceptors that always strip a
// trailer must sit above it).
func typicalStack(tb testing.TB) (string, []channel.Interceptor) {
	for _, spec := range []string{"order,dispatch,gzip,tcpfailure", "order,dispatch,gzip"} {
		if ics, err := Build(spec, nil); err == nil {
			return spec, ics
		}
	}
	tb.Fatal("cannot build the typical stack")
	return "", nil
}

func benchPair(b *testing.B, stack func() []channel.Interceptor) (a, to *channel.Channel, dst []channel.Member) {
	nw := channeltest.NewNetwork()
	mk := func() *channel.Channel {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: stack(), HeartbeatInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
		return ch
	}
	a, to = mk(), mk()
	to.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	return a, to, []channel.Member{to.LocalMember()}
}

// BenchmarkStack measures a send and its delivery through the in-memory network, with no
// interceptors and with the typical stack, on realistic payloads.
//
//	go test -run '^$' -bench Stack -benchtime 2000x ./interceptors/
func BenchmarkStack(b *testing.B) {
	spec, _ := typicalStack(b)
	stacks := []struct {
		name string
		mk   func() []channel.Interceptor
	}{
		{"bare", func() []channel.Interceptor { return nil }},
		{"typical", func() []channel.Interceptor { _, ics := typicalStack(b); return ics }},
		{"nogzip", func() []channel.Interceptor { // the typical stack without compression
			_, ics := typicalStack(b)
			out := ics[:0]
			for _, ic := range ics {
				if _, gz := ic.(*Gzip); !gz {
					out = append(out, ic)
				}
			}
			return out
		}},
	}
	b.Logf("typical stack: %s", spec)
	for _, size := range []int{1 << 10, 64 << 10} {
		data := sessionPayload(size, 7)
		for _, st := range stacks {
			b.Run(fmt.Sprintf("%s/%dKiB/sync", st.name, size>>10), func(b *testing.B) {
				a, _, dst := benchPair(b, st.mk)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if err := a.Send(context.Background(), dst, data, channel.OptUseAck); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("typical/%dKiB/async", size>>10), func(b *testing.B) {
			a, _, dst := benchPair(b, stacks[1].mk)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var wg sync.WaitGroup
			for b.Loop() {
				wg.Add(1)
				err := a.SendMessage(context.Background(), dst, &channel.Message{
					Options: channel.OptAsync | channel.OptUseAck | channel.OptByteMessage, Data: data,
					OnComplete: func(error) { wg.Done() }})
				if err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}
