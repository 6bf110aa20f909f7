package nio_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// A stranger's frame that an interceptor consumes below the channel's sender check (here
// a TCP failure detector probe, whose 64 bytes are a published constant; Tomcat's default
// cluster stack has a TcpFailureDetector) is never refused as a non-member's, and after
// that first frame neither FirstFrameTimeout nor FrameTimeout applies to its connection:
// it stayed open for ever, and MaxConnections such connections shut every member out of
// the receiver. The receiver now looks up each frame's sender with the channel's check
// (channel.SenderChecker) and closes a connection that carried only non-members' frames
// once it is idle for FirstFrameTimeout (Stats.ConnsNonMember): a member gets through.
func TestStrangerConnectionThroughAnInterceptorClosedWhenIdle(t *testing.T) {
	for _, engine := range nio.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			const maxConns = 8

			// Node A, a member of B's static membership: a bare transport.
			acfg := nio.DefaultConfig()
			acfg.Port = 0
			acfg.Timeout = time.Second
			a, err := nio.New(acfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Start(ctx, channel.SvcTransport, func(*channel.Message) error { return nil }); err != nil {
				t.Fatal(err)
			}
			defer a.Stop(ctx, channel.SvcTransport)
			la := a.LocalAddress()
			aMember := channel.Member{Host: la.Host, Port: la.Port, SecurePort: -1, UDPPort: -1}
			_, _ = rand.Read(aMember.UniqueID[:])

			// Node B: a channel with a TCP failure detector, A as its static member, and
			// short connection timeouts.
			bcfg := nio.DefaultConfig()
			bcfg.Port = 0
			bcfg.Engine = engine
			bcfg.MaxConnections = maxConns
			bcfg.FirstFrameTimeout = 100 * time.Millisecond
			bcfg.FrameTimeout = 200 * time.Millisecond
			btr, err := nio.New(bcfg)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := interceptors.NewTCPFailureDetector(interceptors.TCPFailureDetectorConfig{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := channel.New(channel.Config{Transport: btr, Membership: static.New(aMember),
				Interceptors: []channel.Interceptor{fd}, HeartbeatInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Start(ctx, channel.SvcAll); err != nil {
				t.Fatal(err)
			}
			defer b.Stop(ctx, channel.SvcAll)
			bMember := b.LocalMember()

			// The stranger: one probe frame per connection, naming itself as the source.
			stranger := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: 9, SecurePort: -1, UDPPort: -1}
			_, _ = rand.Read(stranger.UniqueID[:])
			src, _ := stranger.MarshalBinary()
			probe := wire.AppendChannelDataFrame(nil, uint32(channel.OptByteMessage), time.Now().UnixMilli(),
				channel.NewMessageID(), src, interceptors.FailureDetectorProbe())
			for range maxConns {
				c, err := net.Dial("tcp", bMember.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write(probe); err != nil {
					t.Fatal(err)
				}
			}
			// A probe not swallowed is one whose connection the receiver refused or closed
			// before reading it: the counters say which.
			testutil.Eventually(t, 10*time.Second, func() error {
				if n := fd.Stats().Swallowed; n != maxConns {
					st := btr.Stats()
					return fmt.Errorf("%d of %d probes swallowed: ConnsAccepted %d, ConnsOpen %d, ConnsRefused %d, "+
						"ConnsTimedOut %d, ConnsNonMember %d, FramesRejected %d, MessagesDelivered %d",
						n, maxConns, st.ConnsAccepted, st.ConnsOpen, st.ConnsRefused, st.ConnsTimedOut,
						st.ConnsNonMember, st.FramesRejected, st.MessagesDelivered)
				}
				return nil
			})

			// Member A's message gets through once the stranger's connections time out,
			// within many times FirstFrameTimeout and FrameTimeout.
			deadline := time.Now().Add(3 * time.Second)
			var sendErr error
			for time.Now().Before(deadline) {
				msg := &channel.Message{Options: channel.OptByteMessage | channel.OptUseAck, ID: channel.NewMessageID(),
					Timestamp: time.Now().UnixMilli(), Source: aMember, Data: []byte("hello")}
				if sendErr = a.Send(ctx, []channel.Member{bMember}, msg); sendErr == nil {
					return
				}
				if !errors.Is(sendErr, channel.ErrConnectionLost) && !errors.Is(sendErr, channel.ErrConnect) {
					t.Fatalf("unexpected send error: %v", sendErr)
				}
				<-time.After(20 * time.Millisecond) // poll interval
			}
			st := btr.Stats()
			t.Fatalf("a member cannot reach the receiver 3 s after a stranger's %d one-frame connections went idle "+
				"(FirstFrameTimeout 100ms, FrameTimeout 200ms): ConnsOpen %d, ConnsRefused %d, ConnsTimedOut %d, "+
				"ConnsNonMember %d, channel NonMemberDropped %d; last error: %v",
				maxConns, st.ConnsOpen, st.ConnsRefused, st.ConnsTimedOut, st.ConnsNonMember, b.Stats().NonMemberDropped, sendErr)
		})
	}
}
