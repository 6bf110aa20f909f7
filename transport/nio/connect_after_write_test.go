package nio

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestConnectFailureAfterAWriteIsNotConnectAlone: the member reads the frame, drops the
// connection and stops listening, so the retry cannot connect. The member may hold the
// message, so the error must not say only ErrConnect (never sent): it wraps
// ErrConnectionLost too, for one member and for several. (The retry's ErrConnect alone was
// reported, and session/delta took the change for one nobody held.)
func TestConnectFailureAfterAWriteIsNotConnectAlone(t *testing.T) {
	for _, several := range []bool{false, true} {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		got := make(chan int, 1)
		go func() {
			c, err := ln.Accept()
			_ = ln.Close()
			if err != nil {
				got <- 0
				return
			}
			n, _ := c.Read(make([]byte, 64<<10))
			_ = c.Close()
			got <- n
		}()
		a := startNode(t, testConfig(), nil) // MaxRetryAttempts 1
		flaky := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1}
		to := []channel.Member{flaky}
		if several {
			to = append(to, startNode(t, testConfig(), func(*channel.Message) error { return nil }).member)
		}
		err = a.t.Send(context.Background(), to, a.msg(channel.OptUseAck, []byte("hi")))
		if n := <-got; n == 0 {
			t.Fatalf("several=%v: the member read nothing", several)
		}
		faulty := channel.FaultyMembers(err)
		if len(faulty) != 1 || !faulty[0].Member.Equal(flaky) {
			t.Fatalf("several=%v: err %v, want the flaky member alone faulty", several, err)
		}
		if f := faulty[0].Err; !errors.Is(f, channel.ErrConnectionLost) || !errors.Is(f, channel.ErrConnect) {
			t.Errorf("several=%v: member's err %v, want ErrConnectionLost and ErrConnect", several, f)
		}
	}
}
