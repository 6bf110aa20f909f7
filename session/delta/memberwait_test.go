package delta_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A node that starts while its membership does not list the others yet (a failure
// detector still verifying them) waits for a member, asks it when it appears, and gets
// every session.
func TestMemberWaitAsksMemberThatAppears(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		a := startReady(t, nw, delta.Config{JvmRoute: "a"})
		ids := fill(t, a, 50)
		tn, ch := newChannel(t, nw)
		nw.Partition(a.tn, tn) // J does not see A yet
		j := startManager(t, tn, ch, delta.Config{JvmRoute: "j", MemberWait: 5 * time.Second})
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if j.m.Ready() {
			t.Fatal("ready while waiting for a member")
		}
		nw.Heal(a.tn, tn) // A appears in J's membership
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, j, ids)
		st := j.m.Stats()
		if st.TransferDonor != a.tn.Member().Addr() || st.MemberWait != 2*time.Second || st.TransferAttempts != 1 {
			t.Errorf("donor %q, waited %v, attempts %d", st.TransferDonor, st.MemberWait, st.TransferAttempts)
		}
	})
}

// The first node of a cluster waits MemberWait, then starts empty.
func TestMemberWaitFirstNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		start := time.Now()
		j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: 3 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := j.m.Stats()
		if time.Since(start) != 3*time.Second || st.MemberWait != 3*time.Second || st.TransferAttempts != 0 ||
			st.TransferDonor != "" || j.m.Len() != 0 {
			t.Errorf("ready after %v: waited %v, attempts %d, donor %q, %d sessions", time.Since(start), st.MemberWait,
				st.TransferAttempts, st.TransferDonor, j.m.Len())
		}
	})
}

// Members that appear during the wait but have no sessions to give (no manager for the
// context) are asked, then the wait goes on until its end.
func TestMemberWaitDeclinedThenEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		start := time.Now()
		j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: 3 * time.Second})
		time.Sleep(time.Second)
		_, fch := newChannel(t, nw) // a member without this application
		fcl := newCluster(t, fch, delta.ClusterConfig{})
		t.Cleanup(func() { _ = fcl.Close(context.Background()) })
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := j.m.Stats(); time.Since(start) != 3*time.Second || st.TransferAttempts != 1 || st.TransferDonor != "" {
			t.Errorf("ready after %v, attempts %d, donor %q", time.Since(start), st.TransferAttempts, st.TransferDonor)
		}
	})
}

// hidingView is a delta.Channel that does not list one member yet, as a donor whose
// membership has not heard from a restarted node does.
type hidingView struct {
	*channel.Channel
	hidden *atomic.Pointer[channel.MemberKey]
}

func (v hidingView) Member(k channel.MemberKey) (channel.Member, bool) {
	if h := v.hidden.Load(); h != nil && *h == k {
		return channel.Member{}, false
	}
	return v.Channel.Member(k)
}

// A donor refuses the request of a node it does not list yet (FAIL_ACK); during
// MemberWait the joiner asks again every second until the donor lists it and answers.
func TestJoinerAsksAgainUntilDonorListsIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		atn, ach := newChannel(t, nw)
		var hidden atomic.Pointer[channel.MemberKey]
		acl := newCluster(t, hidingView{ach, &hidden}, delta.ClusterConfig{})
		t.Cleanup(func() { _ = acl.Close(ctx) })
		am, _ := acl.NewManager(delta.Config{Name: appName, JvmRoute: "a", MemberWait: -1})
		if err := am.Start(ctx); err != nil {
			t.Fatal(err)
		}
		a := &node{tn: atn, ch: ach, cl: acl, m: am}
		ids := fill(t, a, 20)

		jtn, jch := newChannel(t, nw)
		k := jtn.Member().Key()
		hidden.Store(&k)
		j := startManager(t, jtn, jch, delta.Config{JvmRoute: "j", MemberWait: 5 * time.Second})
		time.Sleep(3500 * time.Millisecond)
		synctest.Wait()
		if j.m.Ready() || acl.Stats().RefusedNonMember < 3 {
			t.Fatalf("ready %v, refused %d: the joiner should have asked every second", j.m.Ready(), acl.Stats().RefusedNonMember)
		}
		hidden.Store(nil)
		if err := j.m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		checkAll(t, j, ids)
		synctest.Wait() // the donor's goroutine counts after its last send
		if st := j.m.Stats(); st.TransferAttempts != 1 || am.Stats().SessionsServed != 20 {
			t.Errorf("attempts %d, served %d", st.TransferAttempts, am.Stats().SessionsServed)
		}
	})
}
