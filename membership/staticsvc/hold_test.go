package staticsvc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// holdPings holds the sends to the member at the port set (none until then), whatever
// their context, until release is closed, as a transport blocked in a connect may: the
// ping goroutine's RPC then waits in it. entered is closed when the first send is held.
type holdPings struct {
	channel.InterceptorBase
	port    atomic.Int32
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newHoldPings() *holdPings {
	return &holdPings{entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdPings) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	for _, m := range to {
		if p := h.port.Load(); p != 0 && m.Port == p {
			h.once.Do(func() { close(h.entered) })
			<-h.release
			return errors.New("held")
		}
	}
	return h.InterceptorBase.SendMessage(ctx, to, msg)
}

// acceptOnly listens on port, so that a member there is reachable (it accepts a TCP
// connection), and reads nothing.
func acceptOnly(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
}
