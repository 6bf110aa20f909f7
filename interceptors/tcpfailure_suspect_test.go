package interceptors

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// A send that fails for a member makes the detector check it; a member that answers is
// kept as a suspect. The membership below never dropped it, so nothing clears that
// suspect entry (only opAdded or a failed re-check do), and its "since" stays the time of
// the failed send. When, much later, the membership really drops the member while it still
// answers, the detector must keep it for RemoveSuspectsTimeout from then, as the doc says
// ("one that still answers is kept as a suspect and re-checked on every heartbeat for up
// to RemoveSuspectsTimeout"; Tomcat's memberDisappeared puts the current time into
// removeSuspects). Here it is reported gone at the very next heartbeat.
func TestFailureDetectorSuspectTimeFromLatestReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		alive := newAliveSet()
		d := newTestDetector(alive)
		d.cfg.RemoveSuspectsTimeout = 10 * time.Second
		fb := &failBelow{}
		a := mbNew(t, nw, mbOpt{id: 1}, d, fb)
		b := mbNew(t, nw, mbOpt{id: 2})
		alive.set(b.port(), true)
		mbStart(t, a, b)
		synctest.Wait()
		mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))

		// One send to B fails (a connection reset, say); B answers the check.
		fb.set(b.port(), fmt.Errorf("%w: reset", channel.ErrConnect))
		if err := a.ch.Send(context.Background(), []channel.Member{b.ch.LocalMember()}, []byte("x"), 0); err == nil {
			t.Fatal("send did not fail")
		}
		synctest.Wait()
		fb.set(b.port(), nil)
		if st := d.Stats(); st.KeptAlive != 1 {
			t.Fatalf("stats after the failed send: %+v", st)
		}

		// An hour of normal operation.
		for range 12 {
			time.Sleep(5 * time.Minute)
			a.ch.Heartbeat()
			synctest.Wait()
		}
		mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
		t.Logf("an hour later, B still listed below: %+v", d.Stats()) // Suspects: 1, stale

		// Now the membership drops B, which still answers: it must be kept for 10 s.
		nw.Partition(a.net, b.net)
		synctest.Wait()
		time.Sleep(time.Second)
		a.ch.Heartbeat()
		synctest.Wait()
		if got := a.evs(); len(got) != 1 {
			t.Fatalf("events %v: B, dropped below 1 s ago and still answering, was removed "+
				"(its suspect time is that of the send failure an hour ago; RemoveSuspectsTimeout 10 s)", got)
		}
		mbStop(t, a)
		mbStop(t, b)
	})
}

// A failed send to a member the layer below still lists, which answers the check, makes no
// suspect entry: there is nothing to re-check, and a stale entry's time would later stand
// for the membership's drop.
func TestFailureDetectorFailedSendToListedMemberMakesNoSuspect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		alive := newAliveSet()
		d := newTestDetector(alive)
		fb := &failBelow{}
		a := mbNew(t, nw, mbOpt{id: 1}, d, fb)
		b := mbNew(t, nw, mbOpt{id: 2})
		alive.set(b.port(), true)
		mbStart(t, a, b)
		synctest.Wait()

		fb.set(b.port(), fmt.Errorf("%w: reset", channel.ErrConnect))
		if err := a.ch.Send(context.Background(), []channel.Member{b.ch.LocalMember()}, []byte("x"), 0); err == nil {
			t.Fatal("send did not fail")
		}
		synctest.Wait()
		if st := d.Stats(); st.KeptAlive != 1 || st.Suspects != 0 {
			t.Fatalf("stats after a failed send to a listed, answering member: %+v (want KeptAlive 1, Suspects 0)", st)
		}
		mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
		mbStop(t, a)
		mbStop(t, b)
	})
}

// Every report that a suspect is gone restarts its time, as Tomcat's memberDisappeared
// does: dropped below at 0 s, a send to it fails at 8 s (it still answers), so with
// RemoveSuspectsTimeout 10 s it is kept at 12 s and removed at 19 s.
func TestFailureDetectorSuspectTimeRestartsOnEveryReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		alive := newAliveSet()
		d := newTestDetector(alive)
		d.cfg.RemoveSuspectsTimeout = 10 * time.Second
		fb := &failBelow{}
		a := mbNew(t, nw, mbOpt{id: 1}, d, fb)
		b := mbNew(t, nw, mbOpt{id: 2})
		alive.set(b.port(), true)
		mbStart(t, a, b)
		synctest.Wait()
		bm := b.ch.LocalMember()
		added := fmt.Sprintf("+%d", b.port())

		nw.Partition(a.net, b.net) // dropped below, still answering: a suspect
		synctest.Wait()
		time.Sleep(8 * time.Second)
		fb.set(b.port(), fmt.Errorf("%w: reset", channel.ErrConnect))
		if err := a.ch.Send(context.Background(), []channel.Member{bm}, []byte("x"), 0); err == nil {
			t.Fatal("send did not fail")
		}
		synctest.Wait()
		if st := d.Stats(); st.KeptAlive != 2 || st.Suspects != 1 {
			t.Fatalf("stats after the failed send: %+v", st)
		}
		time.Sleep(4 * time.Second) // 12 s after the drop, 4 s after the send
		a.ch.Heartbeat()
		synctest.Wait()
		mbWantEvents(t, a, added)
		time.Sleep(7 * time.Second) // 11 s after the send
		a.ch.Heartbeat()
		synctest.Wait()
		mbWantEvents(t, a, added, fmt.Sprintf("-%d", b.port()))
		mbStop(t, a)
		mbStop(t, b)
	})
}
