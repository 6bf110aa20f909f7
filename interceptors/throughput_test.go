package interceptors

import (
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/wire"
)

func TestThroughput(t *testing.T) {
	nw := channeltest.NewNetwork()
	ta, tb := must(NewThroughput(ThroughputConfig{})), must(NewThroughput(ThroughputConfig{}))
	a, b, c := newNode(t, nw, ta), newNode(t, nw, tb), newNode(t, nw)
	startNodes(t, a, b, c)
	data := make([]byte, 1000)
	for range 10 {
		if err := a.ch.Send(t.Context(), []channel.Member{b.member(), c.member()}, data, channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
	}
	s := ta.Stats()
	frame := wire.FrameLen(wire.ChannelDataLen(16, a.member().EncodedLen(), 1000))
	if s.MessagesTx != 10 || s.BytesTx != uint64(10*2*frame) || s.ErrorsTx != 0 || s.TimeInTx <= 0 || s.FirstTx.IsZero() {
		t.Fatalf("tx stats %+v (frame %d)", s, frame)
	}
	r := tb.Stats()
	if r.MessagesRx != 10 || r.BytesRx != uint64(10*frame) {
		t.Fatalf("rx stats %+v", r)
	}
	if str := s.String(); !strings.Contains(str, "tx 10 msgs") || s.MBPerSecTx() <= 0 {
		t.Fatalf("String %q, MB/s %v", str, s.MBPerSecTx())
	}
	ta.Reset()
	if ta.Stats().MessagesTx != 0 {
		t.Fatal("reset")
	}
	if _, err := Build("throughput(interval=5)", nil); err != nil {
		t.Fatal(err)
	}
}
