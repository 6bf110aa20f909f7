package nio

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Every address the sender ever sent to keeps a memberPool in sender.pools forever:
// ForgetMember closes the pool's connections but leaves the pool (and its slots channel and
// connection map) in the map. Members that come and go at new addresses (a node restarted
// on another ephemeral port or, in a container, another IP) grow the map without bound,
// where Java's coordinator removes the member's senders (ParallelNioSender.remove).
func TestForgottenMembersLeaveNoPool(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRetryAttempts = -1
	a := startNode(t, cfg, nil)

	const members = 20
	for i := range members {
		// A departed member: an address that refuses connections.
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1}
		if err := a.t.Send(context.Background(), []channel.Member{m}, a.msg(channel.OptUseAck, seqPayload(i))); !errors.Is(err, channel.ErrConnect) {
			t.Fatalf("send %d: err = %v, want ErrConnect", i, err)
		}
		a.t.ForgetMember(m) // the channel's reaction to the member's disappearance
	}
	s := a.t.snd.Load()
	s.mu.RLock()
	n := len(s.pools)
	s.mu.RUnlock()
	if n != 0 {
		t.Fatalf("after %d members were forgotten, the sender still holds %d connection pools for them: sender.pools only grows", members, n)
	}
}

// A send under way when its member is forgotten keeps its connection, which is out of the
// sender's pools from then on; stopping the sender still interrupts it at once (the pool's
// connections are closed by the stop, not by the send's deadline), and the connection is
// closed.
func TestStopSenderInterruptsASendToAForgottenMember(t *testing.T) {
	srv := newSilentServer(t)
	cfg := testConfig()
	cfg.Timeout = 2 * waitTimeout // only the stop can end the send in time
	a := startNode(t, cfg, nil)
	errc := make(chan error, 1)
	go func() {
		errc <- a.t.Send(context.Background(), []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("x")))
	}()
	select {
	case <-srv.received:
	case err := <-errc:
		t.Fatalf("send ended early: %v", err)
	}
	a.t.ForgetMember(srv.member())
	if err := a.t.Stop(context.Background(), channel.SvcSender); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, channel.ErrNotStarted) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("send to a forgotten member did not return after Stop")
	}
	if st := a.t.Stats(); st.ConnsPooled != 0 {
		t.Fatalf("after the send: %d outbound connections open", st.ConnsPooled)
	}
}
