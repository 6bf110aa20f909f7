package replmap

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// joiningMap returns a started lazy map, alone on its channel, queuing map messages as a
// joiner does while its state transfer runs.
func joiningMap(t testing.TB, cfg Config) *Map {
	t.Helper()
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	cfg.Channel, cfg.Name = ch, "queue-index"
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	m.mu.Lock()
	m.queuing = true
	m.mu.Unlock()
	return m
}

// scanFull and scanValue are queuedFull's (before the state) and queuedValue's answers
// from a scan of q, as they were computed before the index.
func scanFull(q []queued, key []byte) (full, found bool) {
	for i := len(q) - 1; i >= 0; i-- {
		mm := q[i].mm
		if mm == nil || !bytes.Equal(mm.Key, key) {
			continue
		}
		switch {
		case mm.Type == msgAccess || mm.Type == msgNotifyMember:
		case (mm.Type == msgBackup || mm.Type == msgCopy) && mm.Diff:
		case mm.Type == msgBackup || mm.Type == msgCopy:
			return mm.Value != nil, true
		default:
			return false, true
		}
	}
	return false, false
}

func scanValue(q []queued, key []byte) []byte {
	for i := len(q) - 1; i >= 0; i-- {
		mm := q[i].mm
		if mm == nil || !bytes.Equal(mm.Key, key) {
			continue
		}
		switch {
		case mm.Type == msgAccess || mm.Type == msgNotifyMember:
		case (mm.Type == msgBackup || mm.Type == msgCopy) && !mm.Diff && mm.Value != nil:
			return mm.Value
		default:
			return nil
		}
	}
	return nil
}

// A joiner's check of each refused diff (queuedFull) and of each MSG_RETRIEVE_BACKUP
// (queuedValue) scanned the whole join queue under the map's lock: quadratic in a queue
// of diffs, about 4 ms a check at 200 000 messages queued. They now look the key up in
// an index kept as messages are queued: the answers are those of the scan over any
// sequence of messages, and stay so once the queue's messages are gone from it (the
// check reads none of them).
func TestQueuedChecksUseTheIndex(t *testing.T) {
	m := joiningMap(t, Config{})
	local := m.cfg.Channel.LocalMember()
	keys := make([][]byte, 8)
	for i := range keys {
		keys[i] = []byte(fmt.Sprint("k", i))
	}
	types := []msgType{msgBackup, msgCopy, msgProxy, msgRemove, msgAccess, msgNotifyMember}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		k := keys[rng.IntN(len(keys))]
		mm := &message{MapID: m.id, Type: types[rng.IntN(len(types))], Key: k, Primary: &local}
		if mm.Type == msgBackup || mm.Type == msgCopy {
			switch rng.IntN(3) {
			case 0:
				mm.Diff, mm.Value = true, []byte("diff")
			case 1:
				mm.Value = fmt.Appendf(nil, "v%d", rng.Int())
			}
		}
		if mm.Type == msgBackup && mm.Diff && !m.queuedFull(k) {
			continue // refused
		}
		if _, err := m.enqueue(mm, local, 1); err != nil {
			t.Fatalf("enqueue %s: %v", mm.Type, err)
		}
		m.mu.Lock()
		for _, key := range keys {
			full, _ := scanFull(m.queue, key)
			if got := m.queuedFull(key); got != full {
				t.Fatalf("queuedFull(%s) = %v, the queue's scan %v", key, got, full)
			}
			if got, want := m.queuedValue(key), scanValue(m.queue, key); !bytes.Equal(got, want) {
				t.Fatalf("queuedValue(%s) = %q, the queue's scan %q", key, got, want)
			}
		}
		m.mu.Unlock()
	}

	// The checks read no queued message: with a value in full of k queued, and the
	// messages' keys then changed in place, they still find it.
	m = joiningMap(t, Config{})
	k := []byte("k")
	if _, err := m.enqueue(&message{MapID: m.id, Type: msgBackup, Key: k, Value: []byte("v"), Primary: &local}, local, 1); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.queue {
		q.mm.Key = []byte("other")
	}
	if !m.queuedFull(k) || string(m.queuedValue(k)) != "v" {
		t.Errorf("queuedFull %v, queuedValue %q: the checks went through the queue, want the index's true, v",
			m.queuedFull(k), m.queuedValue(k))
	}
}

// BenchmarkRefusedDiffWhileJoining measures a joiner refusing a diff for a key without a
// value queued, with 200 000 messages queued.
//
//	go test -run '^$' -bench RefusedDiffWhileJoining ./replmap/
func BenchmarkRefusedDiffWhileJoining(b *testing.B) {
	m := joiningMap(b, Config{MaxEntries: 300_000})
	local := m.cfg.Channel.LocalMember()
	for i := range 200_000 {
		mm := &message{MapID: m.id, Type: msgBackup, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v"), Primary: &local}
		if _, err := m.enqueue(mm, local, 1); err != nil {
			b.Fatal(err)
		}
	}
	diff := &message{MapID: m.id, Type: msgBackup, Diff: true, Key: []byte("missing"), Value: []byte("d"), Primary: &local}
	b.ResetTimer()
	for range b.N {
		if _, err := m.enqueue(diff, local, 1); err == nil {
			b.Fatal("a diff without a value queued was queued")
		}
	}
}
