package ctxwait

import (
	"context"
	"testing"
)

func TestDone(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	ended, cancel := context.WithCancel(context.Background())
	cancel()

	if !Done(context.Background(), closed) {
		t.Error("closed channel, live context: want true")
	}
	if !Done(ended, closed) {
		t.Error("closed channel, ended context: want true (done wins)")
	}
	if Done(ended, make(chan struct{})) {
		t.Error("open channel, ended context: want false")
	}
}
