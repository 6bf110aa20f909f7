package delta_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// listening is a delta.Channel that counts the listeners registered on it and not
// removed yet.
type listening struct {
	*channel.Channel
	msg, mbr atomic.Int32
}

func (l *listening) AddMessageListener(ml channel.MessageListener) func() {
	l.msg.Add(1)
	remove := l.Channel.AddMessageListener(ml)
	return func() { l.msg.Add(-1); remove() }
}

func (l *listening) AddMembershipListener(ml channel.MembershipListener) func() {
	l.mbr.Add(1)
	remove := l.Channel.AddMembershipListener(ml)
	return func() { l.mbr.Add(-1); remove() }
}

// NewCluster refuses a config a field does not take with an error wrapping
// ErrInvalidConfig that names the field, returns no cluster and registers nothing on the
// channel: no channel (nil, or a nil pointer, which panicked before), a nil codec
// pointer, a negative limit of BinaryCodec or JavaCodec (their Limits' included, value
// or pointer), a Logger without a handler.
func TestNewClusterRefusesInvalidConfig(t *testing.T) {
	_, ch := newChannel(t, channeltest.NewNetwork())
	for _, tc := range []struct {
		name, says string
		cfg        delta.ClusterConfig
	}{
		{"nil channel", "Channel", delta.ClusterConfig{}},
		{"nil *channel.Channel", "Channel", delta.ClusterConfig{Channel: (*channel.Channel)(nil)}},
		{"nil *listening", "Channel", delta.ClusterConfig{Channel: (*listening)(nil)}},
		{"nil *JavaCodec", "Codec", delta.ClusterConfig{Codec: (*delta.JavaCodec)(nil)}},
		{"nil *BinaryCodec", "Codec", delta.ClusterConfig{Codec: (*delta.BinaryCodec)(nil)}},
		{"BinaryCodec.MaxMessageSize", "MaxMessageSize", delta.ClusterConfig{Codec: delta.BinaryCodec{MaxMessageSize: -1}}},
		{"BinaryCodec.MaxStringLen", "MaxStringLen", delta.ClusterConfig{Codec: delta.BinaryCodec{MaxStringLen: -1}}},
		{"BinaryCodec.MaxValueSize", "MaxValueSize", delta.ClusterConfig{Codec: delta.BinaryCodec{MaxValueSize: -1}}},
		{"BinaryCodec.MaxEntries", "MaxEntries", delta.ClusterConfig{Codec: &delta.BinaryCodec{MaxEntries: -1}}},
		{"BinaryCodec.Limits", "BinaryCodec.Limits", delta.ClusterConfig{Codec: delta.BinaryCodec{Limits: jserial.DecoderConfig{MaxDepth: -1}}}},
		{"JavaCodec.MaxEntries", "MaxEntries", delta.ClusterConfig{Codec: delta.JavaCodec{MaxEntries: -1}}},
		{"JavaCodec.MaxExpansion", "MaxExpansion", delta.ClusterConfig{Codec: &delta.JavaCodec{MaxExpansion: -2}}},
		{"JavaCodec.Limits", "JavaCodec.Limits", delta.ClusterConfig{Codec: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: -1}}}},
		{"*JavaCodec.Limits", "JavaCodec.Limits", delta.ClusterConfig{Codec: &delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: -1}}}},
		{"Logger without handler", "Logger", delta.ClusterConfig{Logger: new(slog.Logger)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &listening{Channel: ch}
			if tc.cfg.Channel == nil && !strings.HasPrefix(tc.name, "nil channel") {
				tc.cfg.Channel = l
			}
			cl, err := delta.NewCluster(tc.cfg)
			if !errors.Is(err, delta.ErrInvalidConfig) || cl != nil {
				t.Fatalf("NewCluster = %v, %v; want nil and an error wrapping ErrInvalidConfig", cl, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("NewCluster: %q does not name %s", err, tc.says)
			}
			if n, m := l.msg.Load(), l.mbr.Load(); n != 0 || m != 0 {
				t.Errorf("refused, NewCluster left %d message and %d membership listeners", n, m)
			}
		})
	}
}

// A config of every field set to a value it takes makes a cluster that runs a manager;
// the cluster registers one listener of each kind, and Close removes them.
func TestNewClusterValidConfig(t *testing.T) {
	ctx := context.Background()
	_, ch := newChannel(t, channeltest.NewNetwork())
	l := &listening{Channel: ch}
	cl, err := delta.NewCluster(delta.ClusterConfig{
		Channel: l,
		Codec: &delta.JavaCodec{MaxEntries: 10, MaxExpansion: 1,
			Limits: jserial.DecoderConfig{MaxDepth: 8, MaxHandles: 100, MaxArrayLen: 100, MaxBytes: 1 << 20}},
		Logger:              slog.New(slog.DiscardHandler),
		UnlistedRequestWait: -1,
	})
	if err != nil || cl == nil {
		t.Fatalf("NewCluster = %v, %v", cl, err)
	}
	if n, m := l.msg.Load(), l.mbr.Load(); n != 1 || m != 1 {
		t.Errorf("NewCluster registered %d message and %d membership listeners, want 1 and 1", n, m)
	}
	m, err := cl.NewManager(delta.Config{Name: appName, MemberWait: -1, Codec: delta.JavaValueCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if cl.Manager(appName) != m {
		t.Error("the cluster does not list its running manager")
	}
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n, m := l.msg.Load(), l.mbr.Load(); n != 0 || m != 0 {
		t.Errorf("after Close: %d message and %d membership listeners left", n, m)
	}
}

// With JavaCodec, a negative UnlistedRequestWait holds no message of a sender that is
// not listed: a Tomcat joiner's request for every session is refused and counted in
// RefusedNonMember, and the joiner, listed just after, gets nothing (the default holds
// it and answers then: TestTomcatJoinerAskingBeforeItIsListedGetsTheSessions).
func TestNegativeUnlistedRequestWaitHoldsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, m, _ := startLaggingDonorWith(t, nw, 2, delta.ClusterConfig{UnlistedRequestWait: -1})
		joiner := fakeMember(4666, 66)
		if err := view.inject(joiner, getAll(t)); !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("the unlisted joiner's request: %v, want channel.ErrNotMember", err)
		}
		if st := cl.Stats(); st.UnlistedHeld != 0 || st.RefusedNonMember != 1 || st.UnlistedDropped != 0 {
			t.Fatalf("held %d, refused %d, dropped %d; want 0, 1, 0", st.UnlistedHeld, st.RefusedNonMember, st.UnlistedDropped)
		}
		view.list(joiner)
		synctest.Wait()
		if n := len(view.sends()); n != 0 || m.Stats().SessionsServed != 0 || cl.Stats().UnlistedAnswered != 0 {
			t.Fatalf("once listed, the joiner was sent %d messages, %d sessions; want none", n, m.Stats().SessionsServed)
		}
	})
}
