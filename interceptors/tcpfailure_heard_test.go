package interceptors

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// lateMember is a layer whose Member lookup of key, once armed, looks below and then
// calls hold before it returns what it found: the caller acts on an answer the layer
// below may have changed meanwhile.
type lateMember struct {
	channel.InterceptorBase
	armed atomic.Bool
	key   channel.MemberKey
	hold  func()
}

func (l *lateMember) Member(k channel.MemberKey) (channel.Member, bool) {
	m, ok := l.Next().Member(k)
	if k == l.key && l.armed.CompareAndSwap(true, false) {
		l.hold()
	}
	return m, ok
}

// TestFailureDetectorHeardFromAMemberDroppedMeanwhile: a message of a member the detector
// had not verified (listed below, not answering its check) lists and announces the member
// if the layer below lists it. The detector looked below before it took its locks, so when
// the layer below dropped the member between that look and the listing (its disappearance,
// of a member not listed yet, changing nothing), the member was listed and announced all
// the same, and stayed listed for ever: the layer below no longer listed it, so no
// heartbeat re-checked it and no later event removed it, in a running detector
// ("dropped") as in a stopped one ("stopped", whose membership reported its members gone
// as it stopped). The layer below is now asked again under the locks that order the
// member's events: the member is announced only if it is still listed there, and its
// disappearance reported after that look goes up after its addition.
func TestFailureDetectorHeardFromAMemberDroppedMeanwhile(t *testing.T) {
	for _, stop := range []bool{false, true} {
		t.Run(map[bool]string{false: "dropped", true: "stopped"}[stop], func(t *testing.T) {
			hold, looked, open := holdOnce()
			defer open()
			alive := newAliveSet() // B never answers the check
			d := newTestDetector(alive)
			below := &lateMember{hold: hold}
			nw := channeltest.NewNetwork()
			a := mbNew(t, nw, mbOpt{id: 1}, d, below)
			b := mbNew(t, nw, mbOpt{id: 2})
			below.key = b.expected(2).Key()
			mbStart(t, a, b)
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
				return d.Settled() && d.Stats().AddSuspects == 1
			})
			mbWantEvents(t, a)

			// A message of B arrives; the detector finds B listed below, and is held there.
			below.armed.Store(true)
			received := make(chan error, 1)
			go func() {
				received <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: []byte("hello")})
			}()
			waitClosed(t, looked, "the message did not look below")
			if stop {
				mbStop(t, a) // its membership reports B gone as it stops
			} else {
				nw.Partition(a.net, b.net) // the layer below drops B
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B's disappearance applied", d.Settled)
			if _, listed := below.Member(b.expected(2).Key()); listed {
				t.Fatal("the layer below still lists B")
			}
			open()
			if err := <-received; err != nil {
				t.Fatalf("MessageReceived: %v", err)
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", d.Settled)
			p := fmt.Sprint(b.port())
			if _, ok := d.Member(b.expected(2).Key()); ok {
				t.Errorf("the detector lists B, which the layer below dropped (events %v)", a.evs())
			}
			if evs := a.evs(); len(evs) > 0 && evs[len(evs)-1] == "+"+p {
				t.Errorf("events %v: B's last event is its addition, although the layer below dropped it", evs)
			}
			if stop {
				if got := mbPorts(a.ch.Members()); len(got) != 0 {
					t.Errorf("the stopped channel lists %v", got)
				}
				return
			}
			// The detector's own view: no heartbeat re-checks a member the layer below
			// does not list, so a wrong listing would never go.
			a.ch.Heartbeat()
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the heartbeat's checks ended", d.Settled)
			if got := mbPorts(a.ch.Members()); len(got) != 0 {
				t.Errorf("the channel lists %v after a heartbeat", got)
			}
		})
	}
}
