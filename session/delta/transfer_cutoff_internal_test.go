package delta

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// A message of the transfer that the joiner's transport reports lost because its sender
// gave it up half-way (channel.LossListener, with channel.ErrConnectionLost: a Tomcat
// donor's sender timeout cuts a large send off) fails the attempt: the joiner, with no
// other member to ask, is ready with a *StateTransferError matching ErrAllDonorsFailed
// and ErrConnectionLost, and serves (docs/failover.md). Tested before for a message too
// large (ErrMessageTooLarge) and a chunk the codec refused (jserial.ErrLimit) only.
func TestJoinerReportsAMessageItsSenderCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		d := startScriptedDonor(t, nw)
		_, ch := nw.StartChannel(t)
		cl := newCluster(t, ch, ClusterConfig{})
		t.Cleanup(func() { _ = cl.Close(ctx) })
		m, err := cl.NewManager(Config{Name: "localhost#/app", StateTransferTimeout: time.Minute, TransferIdleTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-d.reqs // the joiner asked the donor for every session; its answer is on its way
		synctest.Wait()
		if m.Ready() {
			t.Fatal("the joiner is ready before its donor answered")
		}
		clusterListener{c: cl}.MessageLost(channel.LostMessage{Source: d.ch.LocalMember(), Size: 3 << 20,
			Err: fmt.Errorf("%w: the sender gave the message up after 1 MiB", channel.ErrConnectionLost)})
		err = m.WaitReady(ctx)
		var ste *StateTransferError
		if !errors.As(err, &ste) || !errors.Is(err, ErrAllDonorsFailed) || !errors.Is(err, channel.ErrConnectionLost) {
			t.Fatalf("WaitReady: %v, want a *StateTransferError matching ErrAllDonorsFailed and ErrConnectionLost", err)
		}
		if !m.Ready() {
			t.Error("the joiner is not ready (it serves with what it received)")
		}
	})
}
