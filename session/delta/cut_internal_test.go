package delta

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// A node runs at most maxProbing probes for other nodes at once: a request beyond them is
// dropped unanswered (its sender asks again at its next round), and answered again once a
// probe ended.
func TestProbesForOthersBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	start := func() *channel.Channel {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
		return ch
	}
	chX, chR := start(), start()
	cl := NewCluster(chX, ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	results := make(chan []byte, 8)
	t.Cleanup(chR.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if bytes.HasPrefix(m.Data, cutMagic) {
			results <- bytes.Clone(m.Data)
		}
		return nil
	})))
	testutil.EventuallyTrue(t, 10*time.Second, "each lists the other", func() bool {
		return len(chX.Members()) == 1 && len(chR.Members()) == 1
	})
	x := chR.Members()[0]
	target := channel.UniqueID{9} // no such member: a probe of it is answered at once, unreached
	ask := func() {
		t.Helper()
		if err := chR.Send(context.Background(), []channel.Member{x}, appendCut(nil, cutProbe, target, false), channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatal(err)
		}
	}
	want := appendCut(nil, cutResult, target, false)

	for range maxProbing { // every probe slot taken
		cl.cuts.probing <- struct{}{}
	}
	ask() // acknowledged once handled: dropped
	select {
	case got := <-results:
		t.Fatalf("a probe request beyond the bound was answered: %x", got)
	case <-time.After(300 * time.Millisecond): // it would have been answered at once
	}

	<-cl.cuts.probing // a probe ended
	ask()
	select {
	case got := <-results:
		if !bytes.Equal(got, want) {
			t.Fatalf("answer %x, want %x", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a probe request within the bound was not answered")
	}
}
