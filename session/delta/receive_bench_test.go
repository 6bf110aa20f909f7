package delta_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// BenchmarkReceiveBatch measures what a member does with one received batch of 8
// deltas, each setting the counter attribute of a session it holds (what a peer of the
// HTTP counter page receives per frame with acked replication under load): decoding the
// batch and applying every delta, from the channel listener on. Besides the usual figures
// per batch it reports mallocs/delta (runtime.MemStats.Mallocs) and cpu-ns/delta, the
// process's user and system CPU (getrusage, so the garbage collector's work is in it and
// other processes' load is not) per delta.
//
//	go test -run '^$' -bench ReceiveBatch -benchmem -benchtime 200000x ./session/delta/
func BenchmarkReceiveBatch(b *testing.B) {
	const n = 8
	ctx := context.Background()
	src := fakeMember(4001, 1)
	f := &fakeChannel{members: []channel.Member{src}}
	cl := newCluster(b, f, delta.ClusterConfig{})
	b.Cleanup(func() { _ = cl.Close(ctx) })
	m, err := cl.NewManager(delta.Config{Name: appName, SkipStateTransfer: true, ExpireInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	value, err := (delta.GobCodec{}).Marshal(12345)
	if err != nil {
		b.Fatal(err)
	}
	first, deltas := make([]*delta.Message, n), make([]*delta.Message, n)
	for i := range n {
		id := fmt.Sprintf("%032X.peer", i)
		set := delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "counter", Value: value}
		first[i] = &delta.Message{Event: delta.EventDelta, SessionID: id, Timestamp: 1, Version: 1, Actions: []delta.Action{
			{Type: delta.ActionIsNew, Op: delta.OpSet, Name: "__SET__ISNEW__", Value: []byte{1}}, set}}
		deltas[i] = &delta.Message{Event: delta.EventDelta, SessionID: id, Timestamp: 2, Version: 2, Actions: []delta.Action{set}}
	}
	deliver := func(msgs []*delta.Message) {
		data, err := delta.EncodeBatch(msgs...)
		if err != nil {
			b.Fatal(err)
		}
		raw := &channel.Message{Source: src, Data: data, ID: channel.NewMessageID()}
		for _, l := range f.ml {
			if l.Accept(raw) {
				if err := l.MessageReceived(raw); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	deliver(first)
	if got := m.Stats().ActiveSessions; got != n {
		b.Fatalf("the receiver holds %d sessions, want %d", got, n)
	}
	data, err := delta.EncodeBatch(deltas...)
	if err != nil {
		b.Fatal(err)
	}
	raw := &channel.Message{Source: src, Data: data, ID: channel.NewMessageID()}
	l := f.ml[0]
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs0, cpu0 := ms.Mallocs, processCPU(b)
	iters := 0
	for b.Loop() {
		iters++
		if err := l.MessageReceived(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-mallocs0)/float64(n*iters), "mallocs/delta")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n*iters), "cpu-ns/delta")
	if got, want := m.Stats().Received[delta.EventDelta], uint64(n*(iters+1)); got != want {
		b.Fatalf("received %d deltas, want %d", got, want)
	}
}
