package interceptors_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
)

// startPair starts two channels on an in-memory network, each with the interceptors
// stack returns, and stops them when the returned function is called.
func startPair(stack func() []channel.Interceptor) (a, b *channel.Channel, stop func()) {
	nw := channeltest.NewNetwork()
	start := func() *channel.Channel {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: stack(), HeartbeatInterval: -1})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			panic(err)
		}
		return ch
	}
	a, b = start(), start()
	return a, b, func() {
		_ = a.Stop(context.Background(), channel.SvcAll)
		_ = b.Stop(context.Background(), channel.SvcAll)
	}
}

// A zstd interceptor on both sides: a message of 100 000 repeated bytes goes out
// compressed and arrives as it was sent.
func ExampleNewZstd() {
	stack := func() []channel.Interceptor {
		z, err := interceptors.NewZstd(interceptors.ZstdConfig{}) // defaults: MaxDecompressedSize 64 MiB
		if err != nil {
			panic(err)
		}
		return []channel.Interceptor{z}
	}
	a, b, stop := startPair(stack)
	defer stop()
	got := make(chan []byte, 1)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- bytes.Clone(m.Data)
		return nil
	}))
	sent := bytes.Repeat([]byte("tribes "), 100000/7)
	if err := a.Send(context.Background(), nil, sent, channel.OptUseAck); err != nil {
		panic(err)
	}
	fmt.Println(bytes.Equal(<-got, sent), len(sent))
	// Output:
	// true 99995
}

// A throughput interceptor counts what passes it; Stats reads the counters at any time
// (Interval -1: no log lines, only the counters).
func ExampleNewThroughput() {
	var ta, tb *interceptors.Throughput
	stack := func() []channel.Interceptor {
		t, err := interceptors.NewThroughput(interceptors.ThroughputConfig{Interval: -1})
		if err != nil {
			panic(err)
		}
		if ta == nil {
			ta = t
		} else {
			tb = t
		}
		return []channel.Interceptor{t}
	}
	a, b, stop := startPair(stack)
	defer stop()
	got := make(chan struct{}, 3)
	b.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error {
		got <- struct{}{}
		return nil
	}))
	for range 3 {
		if err := a.Send(context.Background(), nil, []byte("hello"), channel.OptUseAck); err != nil {
			panic(err)
		}
		<-got
	}
	fmt.Println("sent", ta.Stats().MessagesTx, "received", tb.Stats().MessagesRx)
	// Output:
	// sent 3 received 3
}
