package replmap_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgRetrieveBackup = 2 // Java's MSG_RETRIEVE_BACKUP

// orderTakeover is the backup's interceptor that orders its takeover of a restarted
// primary's entry (its MSG_BACKUP to the restarted map) and the restarted map's fetch of
// the value (MSG_RETRIEVE_BACKUP, the backup's reply). Once armed, it holds the
// MSG_BACKUP until backupGo is closed and the reply until replyGo is closed; asked is
// closed when the request came.
type orderTakeover struct {
	channel.InterceptorBase
	armed                    atomic.Bool // set before the restarted map starts
	asked, backupGo, replyGo chan struct{}
	askedOnce                sync.Once
	backupsHeld, repliesHeld int
	mu                       sync.Mutex
}

func (o *orderTakeover) MessageReceived(msg *channel.Message) error {
	if o.armed.Load() && replmap.RPCRequestType(msg.Data) == msgRetrieveBackup {
		o.askedOnce.Do(func() { close(o.asked) })
	}
	return o.InterceptorBase.MessageReceived(msg)
}

func (o *orderTakeover) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if o.armed.Load() {
		switch {
		case replmap.MessageType(msg.Data) == msgBackup:
			o.count(&o.backupsHeld)
			wait(o.backupGo)
		case replmap.RPCReplyType(msg.Data) == msgRetrieveBackup:
			o.count(&o.repliesHeld)
			wait(o.replyGo)
		}
	}
	return o.Next().SendMessage(ctx, to, msg)
}

func (o *orderTakeover) count(n *int) {
	o.mu.Lock()
	*n++
	o.mu.Unlock()
}

// madeCalls records a map's MadePrimary calls.
type madeCalls struct {
	mu   sync.Mutex
	keys []any
}

func (c *madeCalls) made(_ context.Context, key, _ any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, key)
}

func (c *madeCalls) get() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.keys)
}

// A primary A whose map restarts without its MSG_STOP reaching its Go backup B both asks
// B for the value of the entry its state names it the primary of (Start's fetch) and has
// B take the entry over on its MSG_START (B's pass). Either may come first:
//   - the fetch first: A holds the value as the primary (MadePrimary called on A), then
//     B's takeover makes B the primary (MadePrimary called on B) and A its backup, as
//     the package's doc says (what B publishes replaces what the fetch made);
//   - the takeover first, its MSG_BACKUP reaching A before the reply to the fetch: A is
//     B's backup, and the reply, found late, changes nothing (no MadePrimary on A).
//
// Both ways the two maps agree at the end: B is the primary holding the value, A its
// backup holding it too, and once B left A's Get returns it.
func TestFetchAndTakeoverMadePrimaryRace(t *testing.T) {
	for _, fetchFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("fetchFirst=%v", fetchFirst), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			drop := &dropStop{}
			order := &orderTakeover{asked: make(chan struct{}), backupGo: make(chan struct{}), replyGo: make(chan struct{})}
			t.Cleanup(func() {
				for _, c := range []chan struct{}{order.backupGo, order.replyGo} {
					select {
					case <-c:
					default:
						close(c)
					}
				}
			})
			a := newChannel(t, nw)
			b := newChannel(t, nw, drop, order)
			var aMade, bMade madeCalls
			for n, cfg := range map[*node]replmap.Config{a: {SendOptions: syncAck}, b: {SendOptions: syncAck, MadePrimary: bMade.made}} {
				testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
				newMap(t, n, cfg)
			}
			start(t, a)
			start(t, b)
			waitMapMembers(t, []*node{a, b}, 1)
			if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
				t.Fatal(err)
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })
			drop.armed.Store(true)
			if err := a.m.Stop(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if drop.dropped.Load() == 0 || len(b.m.Members()) != 1 {
				t.Fatalf("B's map members after A's lost MSG_STOP: %v, want A still", b.m.Members())
			}
			drop.armed.Store(false)

			order.armed.Store(true) // before A's new map sends anything
			restarted := &node{ch: a.ch, tn: a.tn}
			newMap(t, restarted, replmap.Config{SendOptions: syncAck, MadePrimary: aMade.made})
			start(t, restarted)
			bKey := b.ch.LocalMember().Key()
			namesB := func(m *replmap.Map) bool {
				p, ok := replmap.Primary(m, "k")
				return ok && p.Key() == bKey
			}
			if fetchFirst {
				close(order.replyGo)
				testutil.EventuallyTrue(t, testutil.WaitLimit, "A's fetch makes it the primary", func() bool {
					_, primary, ok := restarted.m.Peek("k")
					return ok && primary && len(aMade.get()) == 1
				})
				close(order.backupGo)
			} else {
				wait(order.asked)
				close(order.backupGo)
				testutil.EventuallyTrue(t, testutil.WaitLimit, "B's takeover reaches A", func() bool { return namesB(restarted.m) })
				close(order.replyGo)
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "A's fetch ends", func() bool { return !replmap.FetchRunning(restarted.m) })
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B's MadePrimary call", func() bool { return len(bMade.get()) > 0 })
			testutil.EventuallyTrue(t, testutil.WaitLimit, "B's pass ends", func() bool { return !replmap.StartPassesRunning(b.m) })
			order.mu.Lock()
			backups, replies := order.backupsHeld, order.repliesHeld
			order.mu.Unlock()
			if backups == 0 || replies == 0 {
				t.Fatalf("B held %d MSG_BACKUPs and %d replies, want both ordered", backups, replies)
			}

			if got := bMade.get(); !slices.Equal(got, []any{"k"}) {
				t.Errorf("B's MadePrimary calls: %v, want k once", got)
			}
			wantA := []any(nil)
			if fetchFirst {
				wantA = []any{"k"}
			}
			if got := aMade.get(); !slices.Equal(got, wantA) {
				t.Errorf("A's MadePrimary calls: %v, want %v", got, wantA)
			}
			if v, primary, ok := b.m.Peek("k"); !ok || !primary || v != "v" || !namesB(b.m) {
				t.Errorf("B holds %v (primary %v, ok %v), want v as the primary", v, primary, ok)
			}
			if v, primary, ok := restarted.m.Peek("k"); !ok || primary || v != "v" || !namesB(restarted.m) {
				t.Errorf("A holds %v (primary %v, ok %v, names B %v), want v as B's backup", v, primary, ok, namesB(restarted.m))
			}
			if err := b.m.Stop(ctx(t)); err != nil {
				t.Fatal(err)
			}
			waitMapMembers(t, []*node{restarted}, 0)
			if got := get(t, restarted, "k"); got != "v" {
				t.Errorf("A's Get after B left = %#v, want v", got)
			}
		})
	}
}
