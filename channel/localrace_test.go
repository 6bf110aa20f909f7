package channel

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// nopTransport is the least Transport New accepts; nothing here sends.
type nopTransport struct{}

func (nopTransport) Start(context.Context, Service, ReceiveFunc) error { return nil }
func (nopTransport) Stop(context.Context, Service) error               { return nil }
func (nopTransport) LocalAddress() LocalAddress {
	return LocalAddress{Host: []byte{127, 0, 0, 1}, Port: 4000}
}
func (nopTransport) Send(context.Context, []Member, *Message) error { return nil }
func (nopTransport) Heartbeat()                                     {}

// TestLocalMemberRestampKeepsConcurrentUpdate: localWire (every Send, every
// LocalMember(true)) re-stamps the cached local member when it is older than 500 ms by
// loading it, re-encoding it and storing the result, without a lock. It used to store
// unconditionally, so a SetPayload (or SetDomain, or Start filling in the receiver's
// address) that stored its change between that load and that store was overwritten with
// the old member; the re-stamp now replaces only the member it loaded (CompareAndSwap).
//
// The test ages the cache as 500 ms of waiting would, then runs one LocalMember and one
// SetPayload at once, and checks that the payload set is the one kept.
func TestLocalMemberRestampKeepsConcurrentUpdate(t *testing.T) {
	c, err := New(Config{Transport: nopTransport{}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	c.coord.startedAt.Store(time.Now().UnixMilli() - 60_000) // running for a minute
	payload := func(i int) []byte {
		p := bytes.Repeat([]byte{'p'}, 32<<10) // a payload the re-encoding takes a moment for
		p[0], p[1] = byte(i), byte(i>>8)
		return p
	}
	for i := 1; i <= 3000; i++ {
		old := c.coord.local.Load()
		c.coord.local.Store(&localMember{m: old.m, wire: old.wire, stamped: old.stamped - 10_000}) // stale
		want := payload(i)
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			c.LocalMember()
		})
		close(start)
		if err := c.SetPayload(want); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if got := c.LocalMember().Payload; !bytes.Equal(got, want) {
			t.Fatalf("iteration %d: SetPayload returned, but a concurrent LocalMember's re-stamp put the previous payload back (payload #%d, want #%d)",
				i, int(got[0])|int(got[1])<<8, i)
		}
	}
}
