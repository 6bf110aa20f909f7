package replmap_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// dropKeyed is an interceptor that drops, unanswered (acknowledged), the messages it
// receives that name a key starting with prefix: a primary that does not answer the
// MSG_RETRIEVE_BACKUPs asking it for those entries' values.
type dropKeyed struct {
	channel.InterceptorBase
	prefix  []byte
	dropped atomic.Int32
}

func (d *dropKeyed) MessageReceived(msg *channel.Message) error {
	if bytes.Contains(msg.Data, d.prefix) {
		d.dropped.Add(1)
		return nil
	}
	return d.InterceptorBase.MessageReceived(msg)
}

const fetchKeys = 20

// fetchSetup starts a map on a and on x, whose interceptor drops the requests for the
// keys fk0..; both hold proxies of fetchKeys entries naming x their primary and j's
// local member their backup (as a primary's state names a backup whose map restarted
// without its MSG_STOP reaching it), and returns j, a node whose map is created with
// cfg, not started.
func fetchSetup(t *testing.T, cfg replmap.Config) (j *node, x *dropKeyed) {
	t.Helper()
	nw := channeltest.NewNetwork()
	x = &dropKeyed{prefix: []byte("fk")}
	a, xn := newChannel(t, nw), newChannel(t, nw, x)
	j = newChannel(t, nw)
	for _, n := range []*node{a, xn, j} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
	}
	for _, n := range []*node{a, xn} {
		newMap(t, n, replmap.Config{})
	}
	start(t, a)
	start(t, xn)
	waitMapMembers(t, []*node{a, xn}, 1)
	for _, n := range []*node{a, xn} {
		for i := range fetchKeys {
			if err := replmap.ReceiveProxy(n.m, xn.ch.LocalMember(), fmt.Sprint("fk", i), j.ch.LocalMember()); err != nil {
				t.Fatal(err)
			}
		}
	}
	newMap(t, j, cfg)
	return j, x
}

// A map whose state names it the backup of entries it holds no value of asks their
// primary for the values; a primary that does not answer is asked with at most
// FetchWorkers requests in flight and not for its other entries once one got no reply,
// and the pass ends.
func TestFetchFromSilentPrimaryBounded(t *testing.T) {
	j, x := fetchSetup(t, replmap.Config{RPCTimeout: 300 * time.Millisecond})
	start(t, j)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the primary asked", func() bool { return x.dropped.Load() > 0 })
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the fetch pass ended", func() bool { return !replmap.FetchRunning(j.m) })
	if n := x.dropped.Load(); n > replmap.FetchWorkers {
		t.Fatalf("the silent primary was asked %d times for %d entries, want at most %d", n, fetchKeys, replmap.FetchWorkers)
	}
	if n := j.m.Len(); n != 0 {
		t.Fatalf("the map holds %d values, none came", n)
	}
}

// Stop ends a fetch pass whose requests wait for their reply, and waits for it: it
// returns before RPCTimeout, and no goroutine of the pass is left (goleak).
func TestStopEndsFetch(t *testing.T) {
	j, x := fetchSetup(t, replmap.Config{RPCTimeout: time.Minute})
	start(t, j)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the primary asked", func() bool { return x.dropped.Load() > 0 })
	if !replmap.FetchRunning(j.m) {
		t.Fatal("no fetch pass running while its requests wait")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = j.m.Stop(ctx)
	if ctx.Err() != nil || replmap.FetchRunning(j.m) {
		t.Fatalf("Stop returned with the fetch pass running (ctx %v)", ctx.Err())
	}
}
