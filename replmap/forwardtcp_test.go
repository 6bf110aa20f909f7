package replmap_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/replmap"
)

// stallMaps, once armed, holds every plain map message it receives (a MapMessage that
// is no RPC) until release is closed: with synchronized ACKs, the node's transport
// sends no ACK for them meanwhile, as a hung backup node. held is closed when the
// first one arrives.
type stallMaps struct {
	channel.InterceptorBase
	armed         atomic.Bool
	once          sync.Once
	held, release chan struct{}
}

func (s *stallMaps) MessageReceived(msg *channel.Message) error {
	if s.armed.Load() && replmap.MessageType(msg.Data) >= 0 {
		s.once.Do(func() { close(s.held) })
		<-s.release
	}
	return s.InterceptorBase.MessageReceived(msg)
}

// forwardTCPTimeout is the transport's send timeout (nio.Config.Timeout) in
// TestPutBehindAForwardToAHungBackupOverTCP: the bound of the forward's send that a Put
// of its key waits behind.
const forwardTCPTimeout = 2 * time.Second

// Over the real transport (loopback TCP, synchronized ACKs), a Put of a key whose
// forwarded removal is being sent to a backup node that sends no ACK (its handler hung)
// waits behind that send, which the transport's send timeout ends (the forward counted
// in Stats.ForwardedRemovesFailed), and then returns: with no other member, an error
// wrapping ErrNoBackup (its own MSG_BACKUP to the hung node timed out too), the value
// held by A alone; with a healthy member C, nil, C holding the backup. The channeltest
// tests (TestPutOfAKeyWaitsForAForwardOfIt) show the wait itself; this one that a hung
// peer ends it, with the error or success Put documents. No time is asserted.
func TestPutBehindAForwardToAHungBackupOverTCP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes int
	}{{"alone", 2}, {"healthy member", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			stall := &stallMaps{held: make(chan struct{}), release: make(chan struct{})}
			cfg := replmap.Config{SendOptions: syncAck, AccessTimeout: time.Minute} // no ping drops B
			nodes := tcpClusterWith(t, tc.nodes, cfg, func(i int, ncfg *tribesnode.Config) {
				ncfg.Transport.Timeout = forwardTCPTimeout
				if i == 1 {
					ncfg.Above = []channel.Interceptor{stall}
				}
			})
			var once sync.Once
			t.Cleanup(func() { once.Do(func() { close(stall.release) }) }) // before the maps and channels stop
			a, b := nodes[0], nodes[1]
			k := backedUpBy(t, a, b)[0]
			stall.armed.Store(true)
			// Another member removes k: A drops its primary and forwards the removal to B,
			// which gets it and sends no ACK.
			if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
				t.Fatal(err)
			}
			select {
			case <-stall.held:
			case <-ctx(t).Done():
				t.Fatal("B did not get A's forwarded removal")
			}
			put := make(chan error, 1)
			go func() {
				_, err := a.m.Put(context.Background(), k, "v2")
				put <- err
			}()
			var err error
			select {
			case err = <-put:
			case <-ctx(t).Done():
				t.Fatal("A's Put of k did not return while B sends no ACK")
			}
			if n := a.m.Stats().ForwardedRemovesFailed; n != 1 {
				t.Fatalf("ForwardedRemovesFailed = %d after the Put, want 1: the forward's send to B ended by the transport's timeout", n)
			}
			if v, primary, held := a.m.Peek(k); !held || !primary || v != "v2" {
				t.Fatalf("A's %s = %#v (primary %v, held %v), want its primary \"v2\"", k, v, primary, held)
			}
			if tc.nodes == 2 {
				if !errors.Is(err, replmap.ErrNoBackup) {
					t.Fatalf("A's Put with B hung and no other member: %v, want ErrNoBackup", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("A's Put with B hung and C healthy: %v", err)
			}
			if got := replmap.Held(nodes[2].m, k); got != "v2" {
				t.Fatalf("C's backup of %s = %#v, want \"v2\"", k, got)
			}
		})
	}
}
