package interceptors

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// ViewChanged signals the views installed after the call only. A user who read View and
// then took the channel missed a view installed in between and waited for one more,
// which may never come; ViewChanged's doc now says to take the channel first, then read
// View, in a loop. Here a waiter runs that loop for a view of three while a third node
// joins; a channel taken before the install is closed by it, one taken after is not.
func TestSimpleCoordinatorViewChangedTakenFirstMissesNoView(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		c, err := NewSimpleCoordinator(SimpleCoordinatorConfig{})
		if err != nil {
			t.Fatal(err)
		}
		startNodes(t, newNode(t, nw, c), newNode(t, nw))
		got, stop := make(chan []channel.Member, 1), make(chan struct{})
		defer close(stop)
		go func() { // the loop of ViewChanged's doc
			for {
				changed := c.ViewChanged()
				if v := c.View(); len(v) >= 3 {
					got <- v
					return
				}
				select {
				case <-changed:
				case <-stop:
					return
				}
			}
		}()
		time.Sleep(DefaultQuietPeriod + time.Second) // synctest's clock
		synctest.Wait()
		if n := len(c.View()); n != 2 {
			t.Fatalf("view of %d members, want 2", n)
		}

		before := c.ViewChanged()
		startNodes(t, newNode(t, nw))
		time.Sleep(DefaultQuietPeriod + time.Second)
		synctest.Wait()
		if n := len(c.View()); n != 3 {
			t.Fatalf("view of %d members after the third joined, want 3", n)
		}
		select {
		case <-before:
		default:
			t.Error("the channel taken before the view of 3 was installed is still open")
		}
		select {
		case <-c.ViewChanged():
			t.Error("a channel taken after the install is closed: it should wait for a later view")
		default:
		}
		select {
		case v := <-got:
			if len(v) != 3 {
				t.Errorf("the waiter got a view of %d", len(v))
			}
		default:
			t.Error("the waiting loop missed the view of 3")
		}
	})
}
