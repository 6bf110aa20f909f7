package replmap_test

import (
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/replmap"
)

// A primary that answers a MSG_RETRIEVE_BACKUP with a Diffable value having changes its
// next Diff holds sends the value in full again in its next Replicate, not as that diff:
// the node that asked holds each change once. The asker here is its backup restarted
// without its MSG_STOP reaching the primary, whose fetch pass asks after the Replicate
// that the MSG_START made send in full (a Java node's Get of a proxy naming the primary
// its backup asks so too). Before, the diff followed and that node held the change twice.
func TestRetrieveBackupAnswerOfDirtyDiffableNotFollowedByItsDiff(t *testing.T) {
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	nodes := clusterConfig(t, channeltest.NewNetwork(), 2, cfg)
	a, b := nodes[0], nodes[1]
	v := mapnotes.New("a")
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")
	// b's view after its restart: a proxy naming a the primary and b the backup.
	if err := replmap.ReceiveProxy(b.m, a.ch.LocalMember(), "k", b.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if replmap.Held(b.m, "k") != nil {
		t.Fatal("the backup holds a value after the MSG_PROXY")
	}
	v.Add("x") // not replicated yet
	if err := replmap.FetchFrom(ctx(t), b.m, "k", a.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x") // the answer
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx(t), "k", false); err != nil { // nothing left to send
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x")
}
