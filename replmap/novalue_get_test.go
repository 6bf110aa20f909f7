package replmap_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A proxy's Get whose backup answers without a value (it holds the key as a proxy
// itself: the two nodes' views of the entry disagree) fails with ErrUnavailable and
// leaves the entry as it was. Before, the Get made its node the primary, with no value,
// told the others so, and returned nil as the key's value.
func TestGetBackupAnswersWithoutValue(t *testing.T) {
	nodes := cluster(t, channeltest.NewNetwork(), 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	am, bm, cm := a.ch.LocalMember(), b.ch.LocalMember(), c.ch.LocalMember()
	// Each of B and C holds a proxy naming the other as the backup.
	if err := replmap.ReceiveProxy(c.m, am, "k", bm); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveProxy(b.m, am, "k", cm); err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.m.Get(ctx(t), "k")
	if !errors.Is(err, replmap.ErrUnavailable) {
		t.Errorf("get from a backup without a value: %#v, ok=%v, err=%v; want ErrUnavailable", v, ok, err)
	}
	if p, _ := replmap.Primary(c.m, "k"); p.Key() != am.Key() {
		t.Errorf("after the failed get the node records %s as the primary, want the one it had", p.String())
	}
	if p, _ := replmap.Primary(b.m, "k"); p.Key() != am.Key() {
		t.Errorf("the backup was told of a new primary %s", p.String())
	}
}
