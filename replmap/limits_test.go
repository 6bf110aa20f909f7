package replmap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/wire"
)

// syncAck are BackupManager's send options: a put returns once its backup processed it.
const syncAck = channel.OptUseAck | channel.OptSyncAck

// pair starts the map on two nodes, the first with cfg, both sending with syncAck (the
// second with the defaults otherwise).
func pair(t *testing.T, cfg replmap.Config) (limited, peer *node) {
	t.Helper()
	nw := channeltest.NewNetwork()
	nodes := []*node{newChannel(t, nw), newChannel(t, nw)}
	for _, nd := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == 1 })
	}
	cfg.SendOptions = syncAck
	newMap(t, nodes[0], cfg)
	newMap(t, nodes[1], replmap.Config{SendOptions: syncAck, Replicated: cfg.Replicated})
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, 1)
	return nodes[0], nodes[1]
}

// A peer putting new keys fills a node's map up to MaxEntries; the further backups are
// refused (the peer's put fails), counted, logged a few times only, and the node keeps
// serving and updating the entries it holds. A local put at the limit still works.
func TestPeerFloodStopsAtLimit(t *testing.T) {
	var log testutil.Buffer
	target, flooder := pair(t, replmap.Config{MaxEntries: 5, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	for i := range 20 {
		_, err := flooder.m.Put(ctx(t), fmt.Sprint("k", i), int32(i))
		if (i < 5) != (err == nil) {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	err := replmap.ReceiveBackup(target.m, flooder.ch.LocalMember(), "k20", "v")
	if !errors.Is(err, replmap.ErrLimit) {
		t.Fatalf("a new key at the limit: %v, want ErrLimit", err)
	}
	if st := target.m.Stats(); st.Entries != 5 || st.RefusedOverLimit != 16 {
		t.Fatalf("after the flood: %+v, want 5 entries and 16 refused", st)
	}
	if n := strings.Count(log.String(), "entry refused"); n != ratelog.DefaultFirst {
		t.Fatalf("%d refusals logged, want the first %d", n, ratelog.DefaultFirst)
	}
	if err := replmap.ReceiveBackup(target.m, flooder.ch.LocalMember(), "k1", "v1"); err != nil {
		t.Fatalf("a held key at the limit: %v", err)
	}
	if _, err := flooder.m.Put(ctx(t), "k0", "new"); err != nil {
		t.Fatalf("update of a held key: %v", err)
	}
	if got := get(t, target, "k0"); got != "new" {
		t.Fatalf("k0 = %#v, want the update", got)
	}
	if got := get(t, target, "k1"); got != "v1" {
		t.Fatalf("k1 = %#v", got)
	}
	if _, err := target.m.Put(ctx(t), "local", "v"); err != nil {
		t.Fatalf("local put at the limit: %v", err)
	}
	if got := get(t, target, "local"); got != "v" {
		t.Fatalf("local = %#v", got)
	}
	if _, ok, err := target.m.Get(ctx(t), "k19"); ok || err != nil {
		t.Fatalf("refused key k19: ok=%v err=%v", ok, err)
	}
	if !replmap.StoredConsistent(target.m) {
		t.Fatal("stored bytes inconsistent")
	}
	if err := flooder.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitMapMembers(t, []*node{target}, 0)
	if st := target.m.Stats(); st.Entries != 6 || !replmap.StoredConsistent(target.m) {
		t.Fatalf("after the peer left: %+v, consistent %v", st, replmap.StoredConsistent(target.m))
	}
}

// In a replicated map the copies beyond MaxEntries are refused too; the sender's put does
// not fail (a FAIL_ACK does not tell it the copy was not taken).
func TestReplicatedPeerFloodStopsAtLimit(t *testing.T) {
	target, flooder := pair(t, replmap.Config{MaxEntries: 3, Replicated: true})
	for i := range 10 {
		if _, err := flooder.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if st := target.m.Stats(); st.Entries != 3 || st.RefusedOverLimit != 7 {
		t.Fatalf("after the flood: %+v, want 3 entries and 7 refused", st)
	}
	if got := get(t, target, "k2"); got != int32(2) {
		t.Fatalf("k2 = %#v", got)
	}
	if !replmap.StoredConsistent(target.m) {
		t.Fatal("stored bytes inconsistent")
	}
}

// MaxStoredBytes refuses a received value that would not fit and takes the next that
// does; an entry cannot grow past it either, not even by the members it records.
func TestPeerValueBytesLimit(t *testing.T) {
	const limit = 1300 // two entries of 400 bytes and their members, not one of 700 more
	target, peer := pair(t, replmap.Config{MaxStoredBytes: limit})
	for i, size := range []int{400, 700, 400} {
		_, err := peer.m.Put(ctx(t), fmt.Sprint("k", i), make([]byte, size))
		if (i == 1) != (err != nil) {
			t.Fatalf("put of %d bytes: %v", size, err)
		}
	}
	st := target.m.Stats()
	if st.Entries != 2 || st.RefusedOverLimit != 1 || st.StoredBytes > limit {
		t.Fatalf("%+v, want 2 entries, 1 refused, at most %d bytes", st, limit)
	}
	big := peer.ch.LocalMember()
	big.Payload = make([]byte, 200)
	many := []channel.Member{big, big, big}
	if err := replmap.ReceiveBackup(target.m, peer.ch.LocalMember(), "k2", make([]byte, 400), many...); !errors.Is(err, replmap.ErrLimit) {
		t.Fatalf("k2 with %d large backup nodes: %v, want ErrLimit", len(many), err)
	}
	if got := target.m.Stats().StoredBytes; got != st.StoredBytes {
		t.Fatalf("refused update changed the stored bytes: %d, was %d", got, st.StoredBytes)
	}
	if got := get(t, target, "k2"); len(got.([]byte)) != 400 {
		t.Fatalf("k2 has %d bytes", len(got.([]byte)))
	}
	if !replmap.StoredConsistent(target.m) {
		t.Fatal("stored bytes inconsistent")
	}
}

// A state transfer with more entries than MaxEntries: the joiner keeps MaxEntries of
// them, counts the rest as refused, and serves those it kept.
func TestStateTransferOverLimit(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	for i := range 10 {
		if _, err := nodes[i%2].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	joiner := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 2 })
	newMap(t, joiner, replmap.Config{MaxEntries: 4})
	start(t, joiner)
	if st := joiner.m.Stats(); st.Entries != 4 || st.RefusedOverLimit != 1 {
		t.Fatalf("joiner: %+v, want 4 entries and the transfer's rest refused", st)
	}
	keys := joiner.m.Keys()
	if len(keys) != 4 {
		t.Fatalf("joiner knows %d keys", len(keys))
	}
	for _, k := range keys {
		var i int32
		if _, err := fmt.Sscanf(k.(string), "k%d", &i); err != nil {
			t.Fatal(err)
		}
		if got := get(t, joiner, k); got != i {
			t.Fatalf("%v = %#v", k, got)
		}
	}
	if !replmap.StoredConsistent(joiner.m) {
		t.Fatal("stored bytes inconsistent")
	}
}

func TestLimitConfigErrors(t *testing.T) {
	n := newChannel(t, channeltest.NewNetwork())
	for _, cfg := range []replmap.Config{{MaxEntries: -1}, {MaxStoredBytes: -1}, {MaxForwardQueue: -1}, {MaxForwarders: -1}} {
		cfg.Channel, cfg.Name = n.ch, "x"
		if _, err := replmap.New(cfg); !errors.Is(err, replmap.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// errLog is a slog.Handler keeping the errors logged in an "err" attribute.
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

// logged reports whether an error logged wraps target.
func (l *errLog) logged(target error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.errs, func(err error) bool { return errors.Is(err, target) })
}

// A state of more than 16 MiB (jserial's DefaultMaxArrayLen, which once bounded the
// byte[] carrying it) reaches a joiner with the default limits; one beyond the joiner's
// MaxMessageBytes does not, and the joiner logs why. A replicated map: its state carries
// the values (a lazy map's, proxies).
func TestStateTransferLarge(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := clusterConfig(t, nw, 2, replmap.Config{Replicated: true})
	const entries, size = 18, 1 << 20
	for i := range entries {
		v := bytes.Repeat([]byte{byte(i)}, size)
		if _, err := nodes[i%2].m.Put(ctx(t), fmt.Sprint("k", i), v); err != nil {
			t.Fatal(err)
		}
	}
	joiner := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 2 })
	newMap(t, joiner, replmap.Config{Replicated: true})
	start(t, joiner)
	if st := joiner.m.Stats(); st.Entries != entries || st.StoredBytes < entries*size {
		t.Fatalf("joiner: %+v, want %d entries of %d bytes", st, entries, size)
	}
	for i := range entries {
		v := get(t, joiner, fmt.Sprint("k", i)).([]byte)
		if len(v) != size || v[0] != byte(i) || v[size-1] != byte(i) {
			t.Fatalf("k%d: %d bytes", i, len(v))
		}
	}

	var log errLog
	small := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(small.ch.Members()) == 3 })
	newMap(t, small, replmap.Config{Replicated: true, MaxMessageBytes: 8 << 20, RPCTimeout: time.Second, Logger: slog.New(&log)})
	start(t, small)
	if st := small.m.Stats(); st.Entries != 0 {
		t.Fatalf("a joiner whose MaxMessageBytes is below the state: %+v", st)
	}
	if !log.logged(jserial.ErrLimit) || !log.logged(rpc.ErrMalformed) {
		t.Fatalf("the joiner's log does not say its limit refused the state: %v", log.errs)
	}
}

// A state list writes each member once and refers back to it from the other entries, as
// Java does with the MemberImpl instances its entries share: an entry costs less than a
// member written anew, and the stream decodes to the same entries.
func TestStateListSharesMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	const entries = 200
	for i := range entries {
		if _, err := nodes[i%3].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := replmap.StateStream(nodes[0].m, false)
	if err != nil {
		t.Fatal(err)
	}
	self := nodes[0].ch.LocalMember()
	memberSize := len(wire.AppendMember(nil, &self))
	if perEntry := len(b) / entries; perEntry >= memberSize {
		t.Fatalf("%d bytes per entry of the state list, a member alone is %d", perEntry, memberSize)
	}
	joiner := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 3 })
	newMap(t, joiner, replmap.Config{})
	start(t, joiner)
	for i := range entries {
		if got := get(t, joiner, fmt.Sprint("k", i)); got != int32(i) {
			t.Fatalf("k%d = %#v", i, got)
		}
	}
}
