package replmap_test

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdFirst is an interceptor that holds the first message it receives holding the
// bytes of key (here a value: the reply to a backup value's request) until release is
// closed.
type holdFirst struct {
	channel.InterceptorBase
	key     []byte
	held    atomic.Bool
	arrived chan struct{}
	release chan struct{}
}

func (h *holdFirst) MessageReceived(msg *channel.Message) error {
	if bytes.Contains(msg.Data, h.key) && h.held.CompareAndSwap(false, true) {
		close(h.arrived)
		<-h.release
	}
	return h.InterceptorBase.MessageReceived(msg)
}

// A restarted backup asks x, the (Java-like) primary, for the value of an entry naming it its
// backup. x answers with the value it holds, then changes it and sends its diff, which
// reaches j first (held here: the reply); j, holding a proxy, cannot apply the diff.
// The reply's value, older than the diff, then became j's backup value, the change
// lost without a word (a Java primary does not send the value in full after a diff
// refused; a later diff applied to the old value). A fetch during which a diff for its
// key was refused now asks again: j holds the new value.
func TestFetchedValueOlderThanARefusedDiffAskedAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	h := &holdFirst{key: []byte("v1"), arrived: make(chan struct{}), release: make(chan struct{})}
	a, x := newChannel(t, nw), newChannel(t, nw)
	j := newChannel(t, nw, h)
	for _, n := range []*node{a, x, j} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
	}
	for _, n := range []*node{a, x} {
		newMap(t, n, replmap.Config{})
	}
	start(t, a)
	start(t, x)
	waitMapMembers(t, []*node{a, x}, 1)
	if err := replmap.HoldAsJavaPrimary(x.m, "fk0", "v1", j.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveProxy(a.m, x.ch.LocalMember(), "fk0", j.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	newMap(t, j, replmap.Config{})
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
		}
	}
	t.Cleanup(release)
	start(t, j)
	select {
	case <-h.arrived:
	case <-ctx(t).Done():
		t.Fatal("no reply from the primary to the backup value's request")
	}
	// x changes the value and sends its diff: j holds a proxy still.
	if err := replmap.HoldAsJavaPrimary(x.m, "fk0", "v2", j.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	_ = replmap.DeliverDiff(j.m, x.ch.LocalMember(), "fk0", []byte{1, 2, 3})
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the fetch pass ended", func() bool { return !replmap.FetchRunning(j.m) })
	if got := replmap.Held(j.m, "fk0"); got != "v2" {
		t.Errorf("j holds %v after a diff it could not apply came before the fetched value, want the primary's v2", got)
	}
}
