package nio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// TestRetryAfterALostConnectionSaysSo: the member reads the first attempt's frame and
// drops the connection, so it may hold the message; the retry then cannot connect (the
// member stops listening) or is answered FAIL_ACK. The error must not say only
// ErrConnect or ErrAckFailed (the member did not take it): it wraps ErrConnectionLost
// too, for one member and for several. A first attempt answered FAIL_ACK and a retry
// that cannot connect give ErrConnect alone. (The retry's error alone was reported, and
// session/delta took a change some member may hold for one nobody held.)
func TestRetryAfterALostConnectionSaysSo(t *testing.T) {
	const drop, failAck = "drop", "fail-ack"
	for _, tc := range []struct {
		script []string // what the member does with each connection, then it stops listening
		want   error
		lost   bool
	}{
		{[]string{drop}, channel.ErrConnect, true},
		{[]string{drop, failAck}, channel.ErrAckFailed, true},
		{[]string{failAck}, channel.ErrConnect, false},
	} {
		for _, several := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/several=%v", tc.script, several), func(t *testing.T) {
				ln, err := net.Listen("tcp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				port := ln.Addr().(*net.TCPAddr).Port
				read := make(chan int, 1)
				go func() {
					defer ln.Close()
					total := 0
					defer func() { read <- total }()
					for i, step := range tc.script {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						if i == len(tc.script)-1 {
							_ = ln.Close() // before the retry can connect: it fails
						}
						n, _ := c.Read(make([]byte, 64<<10))
						total += n
						if step == failAck {
							_, _ = c.Write(wire.FailAckFrame)
							_, _ = c.Read(make([]byte, 1)) // until the sender closes it
						}
						_ = c.Close()
					}
				}()
				a := startNode(t, testConfig(), nil) // MaxRetryAttempts 1
				flaky := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1}
				to := []channel.Member{flaky}
				if several {
					to = append(to, startNode(t, testConfig(), func(*channel.Message) error { return nil }).member)
				}
				err = a.t.Send(context.Background(), to, a.msg(channel.OptUseAck, []byte("hi")))
				_ = a.t.Stop(context.Background(), channel.SvcAll) // closes its pooled connection to the member
				if n := <-read; n == 0 {
					t.Fatal("the member read nothing")
				}
				faulty := channel.FaultyMembers(err)
				if len(faulty) != 1 || !faulty[0].Member.Equal(flaky) {
					t.Fatalf("err %v, want the flaky member alone faulty", err)
				}
				f := faulty[0].Err
				if !errors.Is(f, tc.want) || errors.Is(f, channel.ErrConnectionLost) != tc.lost {
					t.Errorf("member's err %v, want %v, ErrConnectionLost %v", f, tc.want, tc.lost)
				}
			})
		}
	}
}
