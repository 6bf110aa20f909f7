package interceptors

import (
	"encoding/binary"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// strangerMember is an invented sender, distinct for every i, that no membership lists.
func strangerMember(i int) channel.Member {
	var id channel.UniqueID
	binary.BigEndian.PutUint64(id[:], uint64(i)+1)
	return channel.Member{Host: []byte{10, 9, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: id}
}

// Order keeps a receive state (counter, map of held messages) per sender, created on the
// first message of any source and removed only by MemberDisappeared. A sender that is not
// a member never gets a MemberDisappeared: every invented source a stranger puts into a
// message (one per connection is enough: the nio receiver closes the connection after the
// channel refuses the message, but Order, below the channel's check, has already recorded
// it) stays in the map for the life of the node, whatever the heartbeats and Expire.
// Memory grows with the number of forged sources, without bound.
func TestReviewOrderForgetsNonMemberSenders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		o := newOrder(t, OrderConfig{})
		tp := &tap{}
		node := nw.NewNode()
		ch, err := channel.New(channel.Config{
			Transport: node.Transport(), Membership: node.Membership(),
			Interceptors: []channel.Interceptor{o, tp}, HeartbeatInterval: -1,
			// AcceptNonMembers false: the channel refuses the strangers' messages.
		})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)

		const strangers = 2000
		for i := range strangers {
			err := tp.inject(orderedMsg(strangerMember(i), 1, "forged"))
			if !errors.Is(err, channel.ErrNotMember) {
				t.Fatalf("message %d from a stranger: %v, want ErrNotMember", i, err)
			}
		}
		// Long after Expire, with heartbeats: nothing is waiting, none of them is a member.
		for range 5 {
			time.Sleep(10 * o.Config().Expire)
			ch.Heartbeat()
		}
		synctest.Wait()
		if w := o.Stats().Waiting; w != 0 {
			t.Fatalf("%d messages waiting, want 0", w)
		}
		o.inMu.Lock()
		kept := len(o.in)
		o.inMu.Unlock()
		if kept != 0 {
			t.Fatalf("Order still keeps receive state for %d of %d senders that are not members and have nothing waiting, %v after their only message: it grows with every forged source and is never released", kept, strangers, 50*o.Config().Expire)
		}
	})
}

// A member that restarts at the same address with the same unique id (a static member,
// docs/membership.md: "a restart at the same address with the same id") before the
// receiver saw it disappear starts its counter at 1 again, below the receiver's. Tomcat's
// OrderInterceptor.processIncoming delivers every message whose number is at or below its
// counter ("order.getMsgNr() <= cnt.getCounter()"), whatever forwardExpired says:
// forwardExpired only decides about messages that expired while waiting. Order with
// DropExpired (forwardExpired=false) drops them instead, so the restarted member's first
// N messages (N = how many the receiver had from its previous life, millions on a busy
// node) are silently lost.
func TestReviewOrderRestartedSenderNotDropped(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{DropExpired: true})
	n := newNode(t, nw, o)
	startNodes(t, n)
	src := fakeMember(7)
	for nr := uint32(1); nr <= 5; nr++ {
		if err := n.tap.inject(orderedMsg(src, nr, "old")); err != nil {
			t.Fatal(err)
		}
	}
	// The sender restarts (same host, port and id) and starts again at 1; no message
	// is missing and nothing waited, so nothing expired.
	for nr := uint32(1); nr <= 3; nr++ {
		if err := n.tap.inject(orderedMsg(src, nr, "new")); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(n.messages()); got != 8 {
		t.Fatalf("delivered %d messages, want 8 (Tomcat delivers messages numbered below its counter even with forwardExpired=false); stats %+v", got, o.Stats())
	}
}

// OrderConfig.DropExpired "drops messages that waited longer than Expire, and late
// messages whose number was skipped". expire releases everything up to the newest expired
// message through releaseUpTo(…, expiring=true), which drops every message it releases
// when DropExpired is set, including messages numbered before the expired one that
// arrived later and have not waited long at all. Tomcat drops only the expired entries
// (OrderInterceptor.processIncoming: "tmp.isExpired(expire)") and delivers the others.
func TestReviewOrderDropExpiredKeepsFreshMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		o := newOrder(t, OrderConfig{DropExpired: true})
		n := newNode(t, nw, o)
		startNodes(t, n)
		src := fakeMember(9)
		// 1 and 2 never come. 4 waits from t=0; 3 arrives at t=2.9 s.
		if err := n.tap.inject(orderedMsg(src, 4, "4")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2900 * time.Millisecond)
		if err := n.tap.inject(orderedMsg(src, 3, "3")); err != nil {
			t.Fatal(err)
		}
		// At t=3.1 s, 4 has waited longer than Expire (3 s), 3 only 200 ms; the next
		// receipt (10, which waits too) checks expiry, as in Tomcat.
		time.Sleep(200 * time.Millisecond)
		if err := n.tap.inject(orderedMsg(src, 10, "10")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got := n.payloads()
		if len(got) != 1 || string(got[0]) != "3" {
			t.Fatalf("delivered %q, want [3]: 3 waited 200 ms, not Expire (3 s), and only the expired 4 may be dropped; stats %+v", got, o.Stats())
		}
	})
}
