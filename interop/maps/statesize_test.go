package mapsinterop_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/replmap"
)

// errLog keeps the errors logged under "err".
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *errLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *errLog) WithGroup(string) slog.Handler            { return l }
func (l *errLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestStateFromJavaTooLarge: a Go map joining a Java map whose state reply is larger than
// the Go node's transport accepts (nio.Config.MaxFrameSize, 16 KiB here, for 1000
// entries) starts without the state once its call's RPCTimeout ends, as a Java map whose
// state call timed out, and logs why: the error wraps replmap.ErrStateTooLarge and
// channel.ErrMessageTooLarge (the Go transport refused the reply's frame) and names the
// two settings to raise, MaxFrameSize and MaxMessageBytes.
func TestStateFromJavaTooLarge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{idle: 1, idleMaxFrame: 16 << 10})
	const entries = 1000
	if err := c.j.MapFill(ctx, entries); err != nil {
		t.Fatal(err)
	}
	var log errLog
	const rpcTimeout = 3 * time.Second
	joiner, err := replmap.New(replmap.Config{Channel: c.gos[2], Name: mapName, SendOptions: sendOptions,
		RPCTimeout: rpcTimeout, Logger: slog.New(&log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = joiner.Stop(context.Background()) })
	javaKey := c.java.Key()
	c.gates[2].only.Store(&javaKey) // Java answers the state request
	began := time.Now()
	startMap(t, joiner)
	took := time.Since(began)
	c.gates[2].only.Store(nil)
	if keys := joiner.Keys(); len(keys) != 0 {
		t.Fatalf("the joiner knows %d keys, want the state lost", len(keys))
	}
	var found error
	log.mu.Lock()
	for _, err := range log.errs {
		if errors.Is(err, replmap.ErrStateTooLarge) {
			found = err
		}
	}
	errs := log.errs
	log.mu.Unlock()
	if found == nil {
		t.Fatalf("no logged error wraps ErrStateTooLarge (start took %v): %v", took, errs)
	}
	t.Logf("start took %v: %v", took, found)
	if !errors.Is(found, channel.ErrMessageTooLarge) {
		t.Errorf("%v does not wrap channel.ErrMessageTooLarge", found)
	}
	for _, s := range []string{"MaxFrameSize", "MaxMessageBytes"} {
		if !strings.Contains(found.Error(), s) {
			t.Errorf("%q does not name %s", found, s)
		}
	}
}
