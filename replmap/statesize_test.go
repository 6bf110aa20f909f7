package replmap_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A joiner whose limits refuse the state transfer's reply (the whole state in one
// message: beyond its transport's frame limit, or its MaxMessageBytes) logs an error
// wrapping ErrStateTooLarge that names both settings and what the reply ran into
// (channel.ErrMessageTooLarge, or the decoder's limit). Before, it logged only the rpc
// call's timeout with the loss, naming neither of the map's settings.
func TestStateTooLargeNamesTheSettings(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newChannel(t, nw)
	newMap(t, a, replmap.Config{Replicated: true})
	start(t, a)
	if _, err := a.m.Put(ctx(t), "big", strings.Repeat("x", 64<<10)); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		what  string
		frame int // the joiner's transport's limit, 0 none
		max   int // its MaxMessageBytes
		cause error
	}{
		{"beyond the frame limit", 16 << 10, 0, channel.ErrMessageTooLarge},
		{"beyond MaxMessageBytes", 0, 16 << 10, nil},
	} {
		var log errLog
		j := newChannel(t, nw)
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 1+i })
		newMap(t, j, replmap.Config{Replicated: true, MaxMessageBytes: tc.max, RPCTimeout: time.Second, Logger: slog.New(&log)})
		j.tn.SetMaxMessageSize(tc.frame)
		start(t, j)
		j.tn.SetMaxMessageSize(0)
		if keys := j.m.Keys(); len(keys) != 0 {
			t.Fatalf("%s: the joiner got %v, want the state lost", tc.what, keys)
		}
		var found error
		log.mu.Lock()
		for _, err := range log.errs {
			if errors.Is(err, replmap.ErrStateTooLarge) {
				found = err
			}
		}
		log.mu.Unlock()
		if found == nil {
			t.Fatalf("%s: no logged error wraps ErrStateTooLarge: %v", tc.what, log.errs)
		}
		t.Logf("%s: %v", tc.what, found)
		if tc.cause != nil && !errors.Is(found, tc.cause) {
			t.Errorf("%s: %v does not wrap %v", tc.what, found, tc.cause)
		}
		for _, s := range []string{"MaxFrameSize", "MaxMessageBytes"} {
			if !strings.Contains(found.Error(), s) {
				t.Errorf("%s: %q does not name %s", tc.what, found, s)
			}
		}
		if err := j.m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}
