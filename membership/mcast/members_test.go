package mcast

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// referenceMembers is what table.members returned before it kept its order: every
// entry, sorted on each call, with its alive time as of now.
func referenceMembers(t *table, now time.Time) []channel.Member {
	es := make([]*entry, 0, len(t.entries))
	for _, e := range t.entries {
		es = append(es, e)
	}
	sortEntries(es)
	out := make([]channel.Member, len(es))
	for i, e := range es {
		out[i] = e.m
		out[i].AliveTime = max(0, now.Sub(e.born).Milliseconds())
	}
	return out
}

// TestTableMembersFollowChanges: after every add, refresh (alive time, payload), restart,
// shutdown, expiry and clear, members returns what sorting every entry on each call
// returned (order, content, alive times as of now), and a caller modifying the returned
// slice does not change what the next call returns.
func TestTableMembersFollowChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	now := t0
	alive := map[int32]int64{}
	for step := range 3000 {
		now = now.Add(time.Duration(r.IntN(200)) * time.Millisecond)
		port := int32(2 + r.IntN(12))
		switch k := r.IntN(10); {
		case k < 6: // a heartbeat: new member, or its alive time moves on (or back: reordered, restarted)
			a := alive[port] + int64(r.IntN(400)) - 50
			if r.IntN(20) == 0 {
				a = int64(r.IntN(100)) // restart
			}
			alive[port] = max(a, 0)
			m := testMember(port, alive[port])
			m.Payload = []byte{byte(step)}
			tb.heartbeat(now, m)
		case k < 7: // shutdown
			m := testMember(port, alive[port])
			m.Command = wire.ShutdownCommand
			tb.heartbeat(now, m)
		case k < 9:
			tb.expire(now)
		default:
			if r.IntN(50) == 0 {
				tb.clear()
			}
		}
		got, want := tb.members(now), referenceMembers(tb, now)
		if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("step %d: members %v, want %v", step, ports(got), ports(want))
		}
		if len(got) > 0 {
			got[0].Port, got[0].Payload = -1, nil // a caller's change
		}
	}
}

func BenchmarkTableMembers(b *testing.B) {
	for _, n := range []int{4, 64} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
			for i := range n {
				tb.heartbeat(t0, testMember(int32(2+i), int64(1000+i*7)))
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = tb.members(t0.Add(time.Second))
			}
		})
	}
}
