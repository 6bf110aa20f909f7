package interceptors

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

func newOrder(t testing.TB, cfg OrderConfig) *Order {
	t.Helper()
	o, err := NewOrder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The trailer is Java's: "hello" goes out as 68656c6c6f 00000001, counters per destination.
func TestOrderTrailer(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newNode(t, nw, newOrder(t, OrderConfig{}))
	b, c := newNode(t, nw, newOrder(t, OrderConfig{})), newNode(t, nw, newOrder(t, OrderConfig{}))
	startNodes(t, a, b, c)
	to := []channel.Member{b.member(), c.member()}
	for range 2 {
		if err := a.ch.Send(t.Context(), to, []byte("hello"), 0); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range a.tap.sent() {
		got = append(got, hex.EncodeToString(m.Data))
	}
	slices.Sort(got)
	want := []string{"68656c6c6f00000001", "68656c6c6f00000001", "68656c6c6f00000002", "68656c6c6f00000002"}
	if !slices.Equal(got, want) {
		t.Fatalf("wire payloads %v, want %v", got, want)
	}
	for _, n := range []*tnode{b, c} {
		if p := n.payloads(); len(p) != 2 || string(p[0]) != "hello" || string(p[1]) != "hello" {
			t.Fatalf("delivered %q", p)
		}
	}
}

// orderedMsg is message number nr from src, as the wire carries it.
func orderedMsg(src channel.Member, nr uint32, body string) *channel.Message {
	return &channel.Message{ID: channel.NewMessageID(), Source: src, Data: AppendOrderTrailer([]byte(body), nr)}
}

func fakeMember(port int32) channel.Member {
	return channel.Member{Host: []byte{10, 0, 0, 1}, Port: port, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{byte(port)}}
}

// Out-of-order arrivals are held and delivered in order.
func TestOrderReorders(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{})
	n := newNode(t, nw, o)
	src := fakeMember(1)
	for _, nr := range []uint32{3, 2, 5, 1, 4} {
		if err := n.tap.inject(orderedMsg(src, nr, fmt.Sprint(nr))); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[1 2 3 4 5]" {
		t.Fatalf("delivered %s", got)
	}
	if s := o.Stats(); s.Reordered != 3 || s.Delivered != 5 || s.Waiting != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Another sender has its own counter.
	if err := n.tap.inject(orderedMsg(fakeMember(2), 1, "other")); err != nil || len(n.messages()) != 6 {
		t.Fatalf("second sender: %v, %d delivered", err, len(n.messages()))
	}
}

// A gap is given up on after Expire: waiting messages are delivered (forwardExpired) or
// dropped; a message whose number was skipped arrives late and is delivered either way, as
// in Tomcat (TestOrderDeliversRestartedSender).
func TestOrderExpire(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("dropExpired=%v", drop), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				o := newOrder(t, OrderConfig{DropExpired: drop})
				n := newNode(t, nw, o)
				src := fakeMember(1)
				n.tap.inject(orderedMsg(src, 1, "1"))
				n.tap.inject(orderedMsg(src, 3, "3"))
				n.tap.inject(orderedMsg(src, 4, "4"))
				time.Sleep(2 * time.Second)
				n.ch.Heartbeat()
				if got := fmt.Sprintf("%s", n.payloads()); got != "[1]" {
					t.Fatalf("before expiry: %s", got)
				}
				time.Sleep(1500 * time.Millisecond)
				n.ch.Heartbeat() // 3.5 s > 3 s: 3 and 4 expire, 2 is skipped
				want := "[1 3 4]"
				if drop {
					want = "[1]"
				}
				if got := fmt.Sprintf("%s", n.payloads()); got != want {
					t.Fatalf("after expiry: %s, want %s", got, want)
				}
				n.tap.inject(orderedMsg(src, 2, "2")) // late
				n.tap.inject(orderedMsg(src, 5, "5")) // next in order
				want = "[1 3 4 2 5]"
				if drop {
					want = "[1 2 5]"
				}
				if got := fmt.Sprintf("%s", n.payloads()); got != want {
					t.Fatalf("after late arrival: %s, want %s", got, want)
				}
				if s := o.Stats(); s.Expired != 2 || s.Skipped != 1 || s.Late != 1 {
					t.Fatalf("stats %+v", s)
				}
			})
		})
	}
}

// Without heartbeats, expiry is also checked when the next message arrives (Tomcat's way).
func TestOrderExpireOnReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		n := newNode(t, nw, newOrder(t, OrderConfig{Expire: time.Second}))
		src := fakeMember(1)
		n.tap.inject(orderedMsg(src, 2, "2"))
		time.Sleep(1100 * time.Millisecond)
		n.tap.inject(orderedMsg(src, 4, "4"))
		if got := fmt.Sprintf("%s", n.payloads()); got != "[2]" {
			t.Fatalf("delivered %s", got)
		}
	})
}

// When a sender's queue reaches MaxQueue, everything waiting is delivered in order.
func TestOrderMaxQueue(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{MaxQueue: 3})
	n := newNode(t, nw, o)
	src := fakeMember(1)
	for _, nr := range []uint32{5, 3, 4} {
		n.tap.inject(orderedMsg(src, nr, fmt.Sprint(nr)))
	}
	n.tap.inject(orderedMsg(src, 6, "6"))
	if got := fmt.Sprintf("%s", n.payloads()); got != "[3 4 5 6]" {
		t.Fatalf("delivered %s", got)
	}
	if s := o.Stats(); s.QueueFlush != 1 || s.Skipped != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// memberDisappeared flushes what waited and resets both counters.
func TestOrderMemberDisappeared(t *testing.T) {
	nw := channeltest.NewNetwork()
	oa, ob := newOrder(t, OrderConfig{}), newOrder(t, OrderConfig{})
	a, b := newNode(t, nw, oa), newNode(t, nw, ob)
	startNodes(t, a, b)
	a.send(t, b, []byte("one"), 0)
	bm, am := b.member(), a.member()
	// b receives a gap from a: number 3 waits for 2.
	b.tap.inject(orderedMsg(am, 3, "three"))
	nw.Kill(a.net) // b sees a disappear: "three" is flushed; a sees b disappear: its counter resets
	if got := fmt.Sprintf("%s", b.payloads()); got != "[one three]" {
		t.Fatalf("delivered %s", got)
	}
	b.tap.inject(orderedMsg(am, 1, "again")) // a came back and started at 1
	if got := fmt.Sprintf("%s", b.payloads()); got != "[one three again]" {
		t.Fatalf("after reset %s", got)
	}
	oa.outMu.Lock()
	_, kept := oa.out[bm.Key()]
	oa.outMu.Unlock()
	if kept {
		t.Fatal("a kept its counter for b")
	}
}

func TestOrderShortMessage(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{})
	n := newNode(t, nw, o)
	err := n.tap.inject(&channel.Message{Source: fakeMember(1), Data: []byte{1, 2}})
	if !errors.Is(err, ErrShortMessage) || o.Stats().ShortFrames != 1 {
		t.Fatalf("err %v", err)
	}
}

// Many goroutines deliver one sender's messages in random order: the listener sees them
// in sequence, exactly once.
func TestOrderConcurrent(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, newOrder(t, OrderConfig{Expire: time.Hour}))
	src := fakeMember(1)
	const total = 2000
	nrs := make([]uint32, total)
	for i := range nrs {
		nrs[i] = uint32(i + 1)
	}
	rand.Shuffle(len(nrs), func(i, j int) { nrs[i], nrs[j] = nrs[j], nrs[i] })
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < total; i += 8 {
				if err := n.tap.inject(orderedMsg(src, nrs[i], fmt.Sprint(nrs[i]))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got := n.payloads()
	if len(got) != total {
		t.Fatalf("%d delivered", len(got))
	}
	for i, p := range got {
		if string(p) != fmt.Sprint(i+1) {
			t.Fatalf("position %d holds %s", i, p)
		}
	}
}

// Order above an asynchronous dispatcher keeps the application's order although the
// dispatcher's goroutines overtake each other.
func TestOrderAboveDispatch(t *testing.T) {
	nw := channeltest.NewNetwork()
	d, err := NewMessageDispatch(DispatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a := newNode(t, nw, newOrder(t, OrderConfig{Expire: time.Hour}), d)
	b := newNode(t, nw, newOrder(t, OrderConfig{Expire: time.Hour}))
	startNodes(t, a, b)
	var wg sync.WaitGroup
	const total = 500
	wg.Add(total)
	for i := range total {
		err := a.ch.SendMessage(t.Context(), []channel.Member{b.member()}, &channel.Message{
			Options: channel.OptAsync, Data: []byte(fmt.Sprint(i)), OnComplete: func(error) { wg.Done() }})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	got := b.payloads()
	for i, p := range got {
		if string(p) != fmt.Sprint(i) {
			t.Fatalf("position %d holds %s", i, p)
		}
	}
	if len(got) != total {
		t.Fatalf("%d delivered", len(got))
	}
}

func TestOrderSerialArithmetic(t *testing.T) {
	if !before(1, 2) || before(2, 1) || !before(0xffffffff, 0) || before(0, 0xffffffff) || before(5, 5) {
		t.Fatal("before")
	}
	data, nr, err := ParseOrderTrailer([]byte{'h', 'i', 0x80, 0, 0, 1})
	if err != nil || string(data) != "hi" || nr != 0x80000001 {
		t.Fatalf("%q %x %v", data, nr, err)
	}
}

func TestOrderConfig(t *testing.T) {
	ics, err := Build("order(expire=500;forwardExpired=false;maxQueue=10;maxQueueBytes=1000;maxHeldBytes=5000)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*Order).Config(); c.Expire != 500*time.Millisecond || !c.DropExpired || c.MaxQueue != 10 || c.MaxQueueBytes != 1000 || c.MaxHeldBytes != 5000 {
		t.Fatalf("%+v", c)
	}
	if c := newOrder(t, OrderConfig{}).Config(); c.Expire != 3*time.Second || c.DropExpired || c.MaxQueue != 4096 || c.MaxQueueBytes != 64<<20 || c.MaxHeldBytes != 1<<30 {
		t.Fatalf("defaults %+v", c)
	}
	// The all-senders cap is at least one sender's, as TwoPhaseCommit's.
	if c := newOrder(t, OrderConfig{MaxQueueBytes: 1<<30 + 1}).Config(); c.MaxHeldBytes != 1<<30+1 {
		t.Fatalf("MaxQueueBytes 1 GiB + 1: MaxHeldBytes %d, want the same", c.MaxHeldBytes)
	}
	if _, err := NewOrder(OrderConfig{MaxHeldBytes: -1}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("negative MaxHeldBytes: %v, want ErrInvalidConfig", err)
	}
}

// Heartbeat forgets idle receive state only of senders that are not members: a member's
// counter survives any pause (TestOrderForgetsNonMemberSenders shows the other side).
func TestOrderKeepsIdleMemberState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		o := newOrder(t, OrderConfig{})
		a, b := newNode(t, nw, o), newNode(t, nw, newOrder(t, OrderConfig{}))
		startNodes(t, a, b)
		b.send(t, a, []byte("1"), channel.OptUseAck)
		time.Sleep(2 * orderForgetIdle)
		a.ch.Heartbeat()
		b.send(t, a, []byte("2"), channel.OptUseAck)
		if got := fmt.Sprintf("%s", a.payloads()); got != "[1 2]" {
			t.Fatalf("delivered %s after a pause, stats %+v", got, o.Stats())
		}
		o.inMu.Lock()
		defer o.inMu.Unlock()
		if _, ok := o.in[b.member().Key()]; !ok || len(o.in) != 1 {
			t.Fatalf("member's receive state forgotten (%d kept)", len(o.in))
		}
	})
}

// strangerMember is an invented sender, distinct for every i, that no membership lists.
func strangerMember(i int) channel.Member {
	var id channel.UniqueID
	binary.BigEndian.PutUint64(id[:], uint64(i)+1)
	return channel.Member{Host: []byte{10, 9, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: id}
}

// Order keeps a receive state (counter, map of held messages) per sender, created on the
// first message of any source. A sender that is not a member never gets a
// MemberDisappeared, so Heartbeat forgets its state once idle: otherwise every invented
// source a stranger puts into a message (one per connection is enough: the nio receiver
// closes the connection after the channel refuses the message, but Order, below the
// channel's check, has already recorded it) would stay for the life of the node.
// (Found by review.)
func TestOrderForgetsNonMemberSenders(t *testing.T) {
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
// DropExpired (forwardExpired=false) used to drop them, so that the restarted member's
// first N messages (N = how many the receiver had from its previous life) were silently
// lost. (Found by review.)
func TestOrderDeliversRestartedSender(t *testing.T) {
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

// DropExpired drops only the messages that waited longer than Expire themselves. expire
// releases everything up to the newest expired message, and used to drop every message it
// released, including messages numbered before the expired one that arrived later and had
// not waited long at all. Tomcat drops only the expired entries
// (OrderInterceptor.processIncoming: "tmp.isExpired(expire)"); Order delivers the others in
// order at once (Tomcat leaves them queued until the next receipt). (Found by review.)
func TestOrderDropExpiredKeepsFreshMessages(t *testing.T) {
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

// Order sits below the channel's member check, so a stranger's out-of-order messages used
// to wait in its queue up to MaxQueue (2³¹−1) each for Expire, memory held for a sender
// the channel drops anyway. Where the channel checks senders, a non-member's message is
// passed up at once (and refused by the channel); a member's still waits.
func TestOrderHoldsNothingForNonMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{})
	n := newCheckingNode(t, nw, o)
	peer := newCheckingNode(t, nw, newOrder(t, OrderConfig{}))
	startNodes(t, n, peer)
	stranger := strangerMember(1)
	const forged = 1000
	for i := range uint32(forged) { // 2, 4, 6...: each one's predecessor never comes
		nr := 2 * (i + 1)
		err := n.tap.inject(orderedMsg(stranger, nr, "forged"))
		if !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("message %d from a stranger: %v, want ErrNotMember", nr, err)
		}
	}
	if st := o.Stats(); st.Waiting != 0 {
		t.Fatalf("after %d out-of-order messages of a stranger: %d of them waiting, want 0", forged, st.Waiting)
	}
	if got := len(n.messages()); got != 0 {
		t.Fatalf("%d messages of a stranger delivered", got)
	}
	// A member's out-of-order message still waits for the one before it.
	if err := n.tap.inject(orderedMsg(peer.member(), 2, "2")); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Waiting != 1 {
		t.Fatalf("a member's message numbered 2 before 1: %d waiting, want 1", st.Waiting)
	}
	if err := n.tap.inject(orderedMsg(peer.member(), 1, "1")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[1 2]" {
		t.Fatalf("member's messages delivered as %s, want [1 2]", got)
	}
}

// With AcceptNonMembers (a NonMemberListener that needs non-members' messages in order),
// Order keeps ordering them where the channel checks senders.
func TestOrderAcceptNonMembersHolds(t *testing.T) {
	ics, err := Build("order(acceptNonMembers=true)", nil)
	if err != nil {
		t.Fatal(err)
	}
	o := ics[0].(*Order)
	if !o.Config().AcceptNonMembers {
		t.Fatal("acceptNonMembers=true not read")
	}
	nw := channeltest.NewNetwork()
	n := newCheckingNode(t, nw, o)
	startNodes(t, n)
	if err := n.tap.inject(orderedMsg(strangerMember(1), 2, "2")); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Waiting != 1 || st.NonMember != 0 {
		t.Fatalf("with AcceptNonMembers: %d waiting, %d passed up (want 1 and 0)", st.Waiting, st.NonMember)
	}
	o.cfg.AcceptNonMembers = false
	if err := n.tap.inject(orderedMsg(strangerMember(2), 2, "2")); !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("without AcceptNonMembers: %v, want ErrNotMember", err)
	}
	if st := o.Stats(); st.Waiting != 1 || st.NonMember != 1 {
		t.Fatalf("without AcceptNonMembers: %d waiting, %d passed up (want 1 and 1)", st.Waiting, st.NonMember)
	}
}

// Each invented source a stranger writes in a message (one per connection: the receiver
// closes it after the channel's refusal) made Order keep a receive state for a minute
// (TestOrderForgetsNonMemberSenders), however many arrived in that minute. Where the
// channel checks senders, states of non-members are now capped at orderMaxStrangers; the
// messages of the others pass unordered, and a member still gets a state.
func TestOrderBoundsStrangerStates(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{})
	n := newCheckingNode(t, nw, o)
	peer := newCheckingNode(t, nw, newOrder(t, OrderConfig{}))
	startNodes(t, n, peer)
	const strangers = 3 * orderMaxStrangers
	for i := range strangers {
		if err := n.tap.inject(orderedMsg(strangerMember(i), 1, "forged")); !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("message of stranger %d: %v, want ErrNotMember", i, err)
		}
	}
	o.inMu.Lock()
	kept := len(o.in)
	o.inMu.Unlock()
	if kept > orderMaxStrangers {
		t.Fatalf("%d receive states kept for %d invented senders, want at most %d", kept, strangers, orderMaxStrangers)
	}
	for _, nr := range []uint32{2, 1} {
		if err := n.tap.inject(orderedMsg(peer.member(), nr, fmt.Sprint(nr))); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[1 2]" {
		t.Fatalf("a member's messages with the strangers' states full: delivered %s, want [1 2]", got)
	}
}

// A sender counted among the strangers when its first message came (a node joining) stops
// counting once it is a member, at the next heartbeat: its state is kept, in step.
func TestOrderJoinerLeavesTheStrangers(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{})
	n, joiner, list := startUnlistedJoiner(t, nw, o)
	if err := n.tap.inject(orderedMsg(joiner.member(), 1, "early")); !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("a joiner's message before it is a member: %v, want ErrNotMember", err)
	}
	o.inMu.Lock()
	before := o.strangers
	o.inMu.Unlock()
	list()
	n.ch.Heartbeat()
	o.inMu.Lock()
	after, kept := o.strangers, o.in[joiner.member().Key()] != nil
	o.inMu.Unlock()
	if before != 1 || after != 0 || !kept {
		t.Fatalf("strangers counted %d before the join, %d after (want 1, 0); state kept %v", before, after, kept)
	}
	if err := n.tap.inject(orderedMsg(joiner.member(), 2, "2")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[2]" {
		t.Fatalf("the joiner's next message: delivered %s, want [2] at once", got)
	}
}
