package sessionsinterop_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// nsDialer returns a DialContext that opens its connections from inside the network
// namespace ns (as created by `ip netns add`, so /run/netns/<ns>).
//
// The netbench hosts live on a bridge in a namespace of their own; the test process's own
// namespace has no route to them, by design (nothing of the bench touches the machine's
// network). Instead of adding a host-side veth, each dial runs on a fresh goroutine that
// locks its OS thread, moves that thread into ns with setns(2) and creates the socket
// there: a socket belongs to the namespace it was created in, whatever thread uses it
// later, so the connection then works from any goroutine. The goroutine returns without
// unlocking the thread, which makes the Go runtime terminate the thread instead of
// reusing it: no other goroutine ever runs in the bench's namespace. HTTP keep-alive keeps
// dials rare (one thread per new connection).
func nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	path := "/run/netns/" + ns
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
			f, err := os.Open(path)
			if err != nil {
				done <- result{err: err}
				return
			}
			err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
			f.Close()
			if err != nil {
				done <- result{err: fmt.Errorf("setns %s: %w", path, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.c, r.err
	}
}
