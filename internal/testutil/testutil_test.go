package testutil_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// fakeTB records what a helper reports instead of failing the test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}

func TestEventuallySucceeds(t *testing.T) {
	var n atomic.Int32
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if n.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n.Load() != 3 {
		t.Fatalf("cond called %d times, want 3", n.Load())
	}
}

func TestEventuallyReportsTheLastError(t *testing.T) {
	f := &fakeTB{TB: t}
	var n atomic.Int32
	testutil.Eventually(f, 30*time.Millisecond, func() error { return fmt.Errorf("attempt %d", n.Add(1)) })
	want := fmt.Sprintf("attempt %d", n.Load())
	if !strings.HasSuffix(f.fatal, want) || strings.Contains(f.fatal, "deadline") {
		t.Fatalf("reported %q, want it to end with %q", f.fatal, want)
	}
}

func TestEventuallyTrueNamesTheCondition(t *testing.T) {
	f := &fakeTB{TB: t}
	testutil.EventuallyTrue(f, 10*time.Millisecond, "the moon is blue", func() bool { return false })
	if !strings.Contains(f.fatal, "the moon is blue") {
		t.Fatalf("reported %q", f.fatal)
	}
}

func TestPollStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := testutil.Poll(ctx, func() error { return errors.New("never") })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "never") {
		t.Fatalf("Poll = %v", err)
	}
}
