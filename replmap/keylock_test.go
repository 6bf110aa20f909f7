package replmap

import (
	"context"
	"testing"
)

// putBookkeeping is what an uncontended Put of k does besides its messages: it takes
// the key's send lock, lists the key for the Replicates and Removes it watches, and
// unlists it and releases the lock.
func putBookkeeping(ctx context.Context, m *Map, k string) error {
	l, err := m.lockKey(ctx, k)
	if err != nil {
		return err
	}
	defer m.unlockKey(k, l)
	m.mu.Lock()
	kr := m.keyReplicatesLocked(k)
	kr.watchers++
	m.mu.Unlock()
	m.mu.Lock()
	m.replicatedSinceLocked(k, kr, 0, 0)
	m.mu.Unlock()
	return nil
}

// TestUncontendedPutBookkeepingAllocatesNothing: an uncontended Put's key lock and
// listing allocate nothing once the map has seen a Put (the lock, its channel and the
// listing are reused), where each Put allocated a keyLock, its channel, two closures and
// a keyReplicates (BenchmarkPut), and nothing stays listed.
func TestUncontendedPutBookkeepingAllocatesNothing(t *testing.T) {
	m := &Map{}
	ctx := context.Background()
	keys := []string{"k0", "k1", "k2"}
	i := 0
	step := func() {
		if err := putBookkeeping(ctx, m, keys[i%len(keys)]); err != nil {
			t.Fatal(err)
		}
		i++
	}
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Errorf("an uncontended Put's bookkeeping allocates %v times, want 0", n)
	}
	if len(m.keyLocks) != 0 || len(m.keyReplicates) != 0 {
		t.Errorf("%d key locks and %d keys listed once no Put runs, want none", len(m.keyLocks), len(m.keyReplicates))
	}
}
