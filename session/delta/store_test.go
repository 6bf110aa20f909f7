package delta

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// idInShard returns an id with prefix whose shard is shard.
func idInShard(t *testing.T, prefix string, shard int) string {
	t.Helper()
	for i := range 100000 {
		if id := fmt.Sprintf("%s%d", prefix, i); shardIndex(id) == shard {
			return id
		}
	}
	t.Fatalf("no id for shard %d", shard)
	return ""
}

// TestForEachSeesARenamedSessionOnce renames a session, while forEach runs, from a shard
// the walk has not copied into one it has (a state transfer missed such a session) and
// the other way (it would be seen twice): each session is seen exactly once, under its
// new id.
func TestForEachSeesARenamedSessionOnce(t *testing.T) {
	for _, tc := range []struct {
		name              string
		from, to, trigger int // shards of the renamed session's ids and of the session whose visit renames it
	}{
		{"into a copied shard", 50, 5, 10},
		{"into a shard not copied yet", 5, 50, 10},
		{"within the shard being visited", 10, 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore()
			oldID, newID := idInShard(t, "S", tc.from), idInShard(t, "N", tc.to)
			s := &Session{id: oldID, valid: true}
			trigger := &Session{id: idInShard(t, "T", tc.trigger), valid: true}
			st.add(s.id, s)
			st.add(trigger.id, trigger)
			seen := map[*Session][]string{}
			st.forEach(func(x *Session) bool {
				seen[x] = append(seen[x], x.ID())
				if x == trigger {
					if ok, _ := st.rename(oldID, newID, s); !ok {
						t.Fatal("rename failed")
					}
				}
				return true
			})
			if len(seen[trigger]) != 1 {
				t.Errorf("trigger seen %v", seen[trigger])
			}
			// Renamed before its visit (seen as newID), or visited before the rename.
			if got := seen[s]; len(got) != 1 || got[0] != newID && got[0] != oldID {
				t.Errorf("renamed session seen as %v, want once", got)
			}
			if st.nWalks.Load() != 0 || len(st.walks) != 0 {
				t.Errorf("%d walks left registered", len(st.walks))
			}
		})
	}
}

// TestForEachRenamesConcurrently renames sessions back and forth while forEach runs:
// every session is seen exactly once.
func TestForEachRenamesConcurrently(t *testing.T) {
	st := newStore()
	const n = 200
	ss := make([]*Session, n)
	for i := range ss {
		ss[i] = &Session{id: fmt.Sprintf("S%d.a", i), valid: true}
		st.add(ss[i].id, ss[i])
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			s := ss[k%n]
			old := s.ID()
			next := sessionhttp.WithRoute(old, "a")
			if sessionhttp.RouteOf(old) == "a" {
				next = sessionhttp.WithRoute(old, "b")
			}
			st.rename(old, next, s)
		}
	}()
	for range 200 {
		seen := map[*Session]int{}
		st.forEach(func(s *Session) bool {
			seen[s]++
			return true
		})
		for i, s := range ss {
			if seen[s] != 1 {
				close(stop)
				<-done
				t.Fatalf("walk saw session %d %d times", i, seen[s])
			}
		}
	}
	close(stop)
	<-done
}

// reserve sizes the shards ahead of a transfer: the sessions already held stay, later
// calls for fewer than reserveStep times as many leave the maps alone, and a hint is
// capped.
func TestStoreReserve(t *testing.T) {
	st := newStore()
	var ids []string
	for i := range 100 {
		s := &Session{id: fmt.Sprintf("S%d", i), valid: true}
		st.add(s.id, s)
		ids = append(ids, s.id)
	}
	maps := func() (out [nShards]uintptr) {
		for i := range st.shards {
			out[i] = reflect.ValueOf(st.shards[i].m).Pointer()
		}
		return out
	}
	before := maps()
	st.reserve(64000, false)
	sized := maps()
	if sized == before {
		t.Fatal("reserve replaced no shard's map")
	}
	for _, id := range ids {
		if st.get(id) == nil {
			t.Fatalf("%s lost by reserve", id)
		}
	}
	if st.n.Load() != 100 {
		t.Fatalf("count %d after reserve", st.n.Load())
	}
	st.reserve(64000, false)
	st.reserve(1000, false)
	if maps() != sized {
		t.Error("a reserve for no more sessions replaced maps")
	}
	// Once sized, only a reserve for reserveStep times as many sizes the shards again.
	st.reserve(reserveStep*64000-1, false)
	if maps() != sized {
		t.Error("a reserve for less than reserveStep times as many replaced maps")
	}
	st.reserve(reserveStep*64000, false)
	if maps() == sized || st.reserved.Load() != reserveStep*64000 {
		t.Error("a reserve for reserveStep times as many did not size the shards")
	}
	sized = maps()
	// The last size asked for (the transfer's total, once that many are near) applies
	// however close to the last one.
	st.reserve(reserveStep*64000+64000, true)
	if maps() == sized || st.reserved.Load() != reserveStep*64000+64000 {
		t.Error("a final reserve did not size the shards")
	}
	sized = maps()
	// Capped: once sized for maxReserve (not done here: it is large), a larger hint
	// changes nothing.
	st.reserved.Store(maxReserve)
	st.reserve(1<<40, true)
	if maps() != sized || st.reserved.Load() != maxReserve {
		t.Error("a hint above the cap resized the shards")
	}
}
