package interceptors

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// sinkSend swallows every send, counting it done on wg: what a benchmark of the dispatcher
// measures is then the dispatcher's own cost (queueing, its workers' hand-offs, the
// completion).
type sinkSend struct {
	channel.InterceptorBase
	wg *sync.WaitGroup
}

func (s *sinkSend) SendMessage(context.Context, []channel.Member, *channel.Message) error {
	s.wg.Done()
	return nil
}

// BenchmarkDispatch measures an asynchronous send through MessageDispatch down to a layer
// that swallows it, with and without an OnComplete callback, waiting for every completion
// at the end.
//
//	go test -run '^$' -bench Dispatch -benchtime 200000x ./interceptors/
func BenchmarkDispatch(b *testing.B) {
	for _, bc := range []struct {
		name     string
		callback bool
	}{{"oncomplete", true}, {"nocallback", false}} {
		b.Run(bc.name, func(b *testing.B) {
			var sent, completed sync.WaitGroup
			nw := channeltest.NewNetwork()
			d := newDispatch(b, DispatchConfig{})
			a, to := newNode(b, nw, d, &sinkSend{wg: &sent}), newNode(b, nw)
			startNodes(b, a, to)
			dst := []channel.Member{to.member()}
			data := seqData(0, 256)
			done := func(error) { completed.Done() }
			b.ReportAllocs()
			for b.Loop() {
				msg := &channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: data}
				sent.Add(1)
				if bc.callback {
					completed.Add(1)
					msg.OnComplete = done
				}
				if err := a.ch.SendMessage(context.Background(), dst, msg); err != nil {
					b.Fatal(err)
				}
			}
			sent.Wait()
			completed.Wait()
		})
	}
}
