package nio_test

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/transport/nio"
)

// A connection that carried only non-members' frames is closed once "no frame arrived on
// it for FirstFrameTimeout" (Config.FirstFrameTimeout, doc.go). The sweeper measures that
// from when the last frame was decoded, and ignores that the receiver is still delivering
// it and owes its sender a synchronized ACK: a node not listed yet (served, as doc.go
// says: "The frames are still delivered, so a node not listed yet is served") whose
// OptSyncAck message takes longer than FirstFrameTimeout to process has its connection
// closed under it. The ACK is never written, the sender sees the connection lost and
// retries (MaxRetryAttempts, default 1) on a fresh connection: the message is delivered
// twice, though the first delivery succeeded.
func TestIdleStrangerNotClosedWhileItsFrameIsDelivered(t *testing.T) {
	for _, engine := range nio.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()

			// Receiver B: checks senders (as a channel with a Membership does) and knows
			// no member; its receive function takes a while for the first message.
			bcfg := nio.DefaultConfig()
			bcfg.Port = 0
			bcfg.Engine = engine
			bcfg.FirstFrameTimeout = 100 * time.Millisecond
			btr, err := nio.New(bcfg)
			if err != nil {
				t.Fatal(err)
			}
			btr.SetSenderCheck(func(*channel.Member) bool { return false })
			var deliveries atomic.Int32
			rx := func(*channel.Message) error {
				if deliveries.Add(1) > 1 {
					return nil
				}
				// Processing that takes longer than FirstFrameTimeout: here until the
				// receiver closed the connection, or 2 s (20 x FirstFrameTimeout).
				deadline := time.Now().Add(2 * time.Second)
				for time.Now().Before(deadline) && btr.Stats().ConnsNonMember == 0 {
					<-time.After(10 * time.Millisecond) // poll interval
				}
				return nil
			}
			if err := btr.Start(ctx, channel.SvcTransport, rx); err != nil {
				t.Fatal(err)
			}
			defer btr.Stop(ctx, channel.SvcTransport)
			lb := btr.LocalAddress()
			bMember := channel.Member{Host: lb.Host, Port: lb.Port, SecurePort: -1, UDPPort: -1}

			// Sender A: a node B does not list (yet).
			acfg := nio.DefaultConfig()
			acfg.Port = 0
			acfg.Timeout = 5 * time.Second
			a, err := nio.New(acfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Start(ctx, channel.SvcSender, nil); err != nil {
				t.Fatal(err)
			}
			defer a.Stop(ctx, channel.SvcSender)
			aMember := channel.Member{Host: lb.Host, Port: 9, SecurePort: -1, UDPPort: -1}
			_, _ = rand.Read(aMember.UniqueID[:])

			msg := &channel.Message{Options: channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck,
				ID: channel.NewMessageID(), Timestamp: time.Now().UnixMilli(), Source: aMember, Data: []byte("slow")}
			sendErr := a.Send(ctx, []channel.Member{bMember}, msg)
			if n := deliveries.Load(); sendErr != nil || n != 1 {
				t.Fatalf("a synchronized-ack message whose delivery took longer than FirstFrameTimeout (100ms): "+
					"send error %v, delivered %d times (want nil, 1); receiver ConnsNonMember %d: the connection "+
					"was closed as idle while its frame was being delivered and its ACK was owed",
					sendErr, n, btr.Stats().ConnsNonMember)
			}
		})
	}
}
