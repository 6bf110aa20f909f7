package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// failBackupSend is an interceptor that, while armed, fails the MSG_BACKUPs the channel
// sends.
type failBackupSend struct {
	channel.InterceptorBase
	armed atomic.Bool
}

func (f *failBackupSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if f.armed.Load() && replmap.MessageType(msg.Data) == msgBackup {
		return errors.New("MSG_BACKUP send failed by the test")
	}
	return f.Next().SendMessage(ctx, to, msg)
}

// addOnEncode is mapnotes.Codec that, for its next adds encodes of notes, adds an item to
// the notes first: a change the application makes while the map marshals the value.
type addOnEncode struct {
	mapnotes.Codec
	adds  atomic.Int32 // encodes left that add an item
	added atomic.Int32
}

func (c *addOnEncode) Encode(v any) (any, error) {
	if n, ok := v.(*mapnotes.Notes); ok && c.adds.Add(-1) >= 0 {
		n.Add(fmt.Sprint("during", c.added.Add(1)))
	}
	return c.Codec.Encode(v)
}

// A Replicate that sends a Diffable's value in full (a send of it failed before) hands
// each change to the backup once, also one made while it marshalled the value: the
// backup holds every item once, as the primary does. Before, Replicate took the value's
// Diff and then marshalled it, so that an item added in between went in the full value
// and again in the next Replicate's diff, and the backup held it twice. A value that
// changes at every marshal is sent in full again by the next Replicate, until one
// marshal saw no change.
func TestReplicateFullValueChangedWhileMarshalledSentOnce(t *testing.T) {
	for _, adds := range []int32{1, 5} {
		t.Run(fmt.Sprintf("adds=%d", adds), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			fail := &failBackupSend{}
			codec := &addOnEncode{}
			a, b := newChannel(t, nw, fail), newChannel(t, nw)
			for _, n := range []*node{a, b} {
				testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
			}
			newMap(t, a, replmap.Config{Values: codec, SendOptions: syncAck})
			newMap(t, b, replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
			start(t, a)
			start(t, b)
			waitMapMembers(t, []*node{a, b}, 1)
			v := mapnotes.New("a")
			if _, err := a.m.Put(ctx(t), "k", v); err != nil {
				t.Fatal(err)
			}
			waitItems(t, b, "k", "a")

			v.Add("b")
			fail.armed.Store(true)
			if err := a.m.Replicate(ctx(t), "k", false); err == nil {
				t.Fatal("Replicate whose MSG_BACKUP failed returned nil")
			}
			fail.armed.Store(false)

			codec.adds.Store(adds) // the next Replicate sends the value in full
			for i := 0; i < 20 && (i == 0 || v.Dirty()); i++ {
				if err := a.m.Replicate(ctx(t), "k", false); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.m.Replicate(ctx(t), "k", false); err != nil { // nothing left to send
				t.Fatal(err)
			}
			want := v.Items()
			if added := int(codec.added.Load()); added == 0 || len(want) != 2+added {
				t.Fatalf("the primary holds %q after %d items added during marshals", want, added)
			}
			waitItems(t, b, "k", want...)
			if s := b.m.Stats(); s.DiffsNotApplied != 0 {
				t.Fatalf("the backup did not apply %d diffs", s.DiffsNotApplied)
			}
		})
	}
}
