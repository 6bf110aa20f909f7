package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// b backs up a's entries and takes them over when a stops; its MadePrimary, called by
// that departure's pass, stops b's map with the call's context. Stop waited for the pass
// running that call, itself: until its context ended (for ever with none), holding the
// goroutine that handled a's MSG_STOP. It now stops the map and returns ErrStopping at
// once, its MSG_STOP sent, and a later Stop from elsewhere returns once the pass ended.
func TestStopFromMadePrimaryReturns(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	var once sync.Once
	res := make(chan error, 1)
	newMap(t, a, replmap.Config{SendOptions: syncAck})
	newMap(t, b, replmap.Config{SendOptions: syncAck, MadePrimary: func(c context.Context, _, _ any) {
		once.Do(func() {
			c, cancel := context.WithTimeout(c, testutil.WaitLimit)
			defer cancel()
			res <- b.m.Stop(c)
		})
	}})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	for i := range 3 {
		if _, err := a.m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	aStopped := make(chan error, 1)
	go func() { aStopped <- a.m.Stop(ctx(t)) }()
	select {
	case err := <-res:
		if !errors.Is(err, replmap.ErrStopping) || err.Error() != replmap.ErrStopping.Error() {
			t.Errorf("Stop from MadePrimary with its context = %v, want ErrStopping alone (its MSG_STOP sent)", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop from MadePrimary has not returned")
	}
	if err := b.m.Stop(ctx(t)); err != nil {
		t.Errorf("a later Stop = %v", err)
	}
	if err := <-aStopped; err != nil {
		t.Errorf("a's Stop = %v", err)
	}

}
