package replmap_test

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
)

// TestStateListBeyondLimits: Config.Limits bound the decoding of a state transfer's
// entry list. Before, the map had no such setting: the list was decoded with jserial's
// default MaxArrayLen and 2^20 handles whatever the application wanted. A joiner whose
// lowered MaxHandles or MaxArrayLen the donor's list of 200 entries passes starts
// without the state, logs an error wrapping jserial.ErrLimit and naming Config.Limits
// (before, it read "malformed MapMessage"), and then works: its Put
// reaches the donor and the donor's Put reaches it.
func TestStateListBeyondLimits(t *testing.T) {
	const entries = 200
	for _, limits := range []jserial.DecoderConfig{{MaxHandles: 100}, {MaxArrayLen: entries / 2}} {
		t.Run(fmt.Sprintf("%+v", limits), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			// Two nodes: every entry has its backup, and the joiner gets only the state.
			donor := cluster(t, nw, 2)[0]
			for i := range entries {
				if _, err := donor.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
					t.Fatal(err)
				}
			}
			var log errLog
			j := newChannel(t, nw)
			testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 2 })
			newMap(t, j, replmap.Config{Limits: limits, RPCTimeout: time.Second, Logger: slog.New(&log)})
			start(t, j)
			if st := j.m.Stats(); st.Entries != 0 {
				t.Fatalf("the joiner took the state beyond its limits: %+v", st)
			}
			if !log.logged(jserial.ErrLimit) {
				t.Fatalf("the joiner's log does not say its limit refused the state: %v", log.errs)
			}
			if !log.loggedText("Config.Limits") {
				t.Fatalf("the joiner's log does not name the setting that refused the state: %v", log.errs)
			}
			if got := j.m.Members(); len(got) != 2 {
				t.Fatalf("the joiner's map members: %v", got)
			}
			if _, err := j.m.Put(ctx(t), "joiner's", "v"); err != nil {
				t.Fatalf("the joiner's Put: %v", err)
			}
			if got := get(t, donor, "joiner's"); got != "v" {
				t.Fatalf("the donor's Get of the joiner's key = %#v", got)
			}
			if _, err := donor.m.Put(ctx(t), "donor's", "w"); err != nil {
				t.Fatalf("the donor's Put: %v", err)
			}
			if got := get(t, j, "donor's"); got != "w" {
				t.Fatalf("the joiner's Get of the donor's new key = %#v", got)
			}
		})
	}
}

func TestDecodeLimitsConfigErrors(t *testing.T) {
	n := newChannel(t, channeltest.NewNetwork())
	for _, cfg := range []replmap.Config{
		{Limits: jserial.DecoderConfig{MaxDepth: -1}},
		{Limits: jserial.DecoderConfig{MaxHandles: -1}},
		{Limits: jserial.DecoderConfig{MaxArrayLen: -1}},
		{Limits: jserial.DecoderConfig{MaxBytes: -1}},
		{Limits: jserial.DecoderConfig{MaxBytes: 1 << 20}, MaxMessageBytes: 2 << 20},
	} {
		cfg.Channel, cfg.Name = n.ch, "x"
		if _, err := replmap.New(cfg); !errors.Is(err, replmap.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg.Limits, err)
		}
	}
	// Limits.MaxBytes alone, or equal to MaxMessageBytes, is MaxMessageBytes.
	for i, cfg := range []replmap.Config{
		{Limits: jserial.DecoderConfig{MaxBytes: 1 << 20}},
		{Limits: jserial.DecoderConfig{MaxBytes: 1 << 20}, MaxMessageBytes: 1 << 20},
	} {
		cfg.Channel, cfg.Name = n.ch, fmt.Sprint("y", i)
		m, err := replmap.New(cfg)
		if err != nil {
			t.Fatalf("%+v, MaxMessageBytes %d: %v", cfg.Limits, cfg.MaxMessageBytes, err)
		}
		if err := m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRPCRepliesBeyondLimits: Config.Limits reach the map's rpc.Channel (rpc.Config.Limits),
// which decodes its RPC replies. Before, it was given MaxMessageBytes only. A MaxDepth of 2,
// which an RpcMessage carrying a MapMessage passes, refuses the map members' replies to
// the joiner's MSG_INIT and MSG_START: the joiner starts knowing no map member, and logs
// nothing wrong with its start (missing replies are not an error, as in Java).
func TestRPCRepliesBeyondLimits(t *testing.T) {
	nw := channeltest.NewNetwork()
	cluster(t, nw, 1)
	j := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 1 })
	newMap(t, j, replmap.Config{Limits: jserial.DecoderConfig{MaxDepth: 2}, RPCTimeout: time.Second})
	start(t, j)
	if got := j.m.Members(); len(got) != 0 {
		t.Fatalf("the joiner took map members' replies beyond its MaxDepth: %v", got)
	}
}

// loggedText reports whether an error logged says text.
func (l *errLog) loggedText(text string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.errs, func(err error) bool { return strings.Contains(err.Error(), text) })
}

// The largest limits are taken: a MaxMessageBytes, or Limits.MaxBytes, of math.MaxInt
// (no practical bound). Before, the map's rpc.Channel was given MaxMessageBytes plus the
// RPC envelope, which overflowed to a negative limit: New failed with "negative
// rpc.Config.MaxMessageBytes", a setting the caller never made.
func TestLargestMessageLimitsAccepted(t *testing.T) {
	n := newChannel(t, channeltest.NewNetwork())
	for i, cfg := range []replmap.Config{
		{MaxMessageBytes: math.MaxInt},
		{Limits: jserial.DecoderConfig{MaxBytes: math.MaxInt64}},
	} {
		cfg.Channel, cfg.Name = n.ch, fmt.Sprint("z", i)
		m, err := replmap.New(cfg)
		if err != nil {
			t.Fatalf("MaxMessageBytes %d, Limits.MaxBytes %d: %v", cfg.MaxMessageBytes, cfg.Limits.MaxBytes, err)
		}
		if err := m.Stop(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}
