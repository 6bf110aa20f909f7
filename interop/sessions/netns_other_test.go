//go:build !linux

package sessionsinterop_test

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// nsDialer returns a DialContext that fails: network namespaces are Linux's
// (netns_linux_test.go), and the tests that use them skip here (netbench.New).
func nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) {
		return nil, fmt.Errorf("network namespace %s: %w", ns, errors.ErrUnsupported)
	}
}
