package replmap_test

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/replmap"
)

// Over loopback TCP (synchronized ACKs): a Get on the member that a departure's pass on
// the primary just gave the entry as its backup (the pass's MSG_BACKUP applied, its
// MSG_PROXY held) takes the entry over and names a THIRD member, z, its backup; the
// pass's MSG_PROXY, naming the Get's node as the backup, reaches z after the Get's
// MSG_BACKUP and turns z into a proxy (a MSG_PROXY drops the value it held). Once the
// pass ended, one node must be the entry's primary with its value and z hold the value
// as the backup it names, the other nodes proxies naming that primary (settled): the
// pass, stepping aside, asks the new primary to send its value again to the backup
// nodes its MSG_PROXY reached.
//
// The departure is a map's Stop: its MSG_STOP runs the pass on the primary's receiving
// goroutine, so that the Stop returns once the pass did.
func TestGetNamingAThirdMemberDuringTheDeparturePassOverTCP(t *testing.T) {
	hold := newSeqHold(1) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY (held)
	const k = "k"
	p := holdStopPass(t, hold, k, "v")
	nodes, a, x, stopped := p.nodes, p.a, p.x, p.stopped
	y := backupOf(nodes, a, k, x)
	if y == nil {
		t.Fatal("no member holds the pass's MSG_BACKUP of k")
	}
	var z *node
	for _, n := range nodes {
		if n != a && n != x && n != y && z == nil {
			z = n
		}
	}
	replmap.SetNextBackup(y.m, z.ch.LocalMember())
	if v, ok, err := y.m.Get(ctx(t), k); err != nil || !ok || v != "v" {
		t.Fatalf("y's Get of k = %#v, %v, %v", v, ok, err)
	}
	if named := replmap.BackupNodes(y.m, k); len(named) != 1 || named[0].Key() != z.ch.LocalMember().Key() {
		t.Fatalf("y's Get named %v k's backup, want z %v", named, z.ch.LocalMember())
	}
	hold.releaseAt(1)
	if err := await(t, "x's Stop", stopped); err != nil {
		t.Fatalf("x's Stop: %v", err)
	}
	settled(t, nodes, x, k)
	if _, primary, _ := y.m.Peek(k); !primary {
		t.Fatal("y is not k's primary after its Get")
	}
}

// stoppedPass is what holdStopPass sets up over loopback TCP: five map nodes with
// synchronized ACKs, a (nodes[0], sending through the hold) having put k; x, k's backup,
// stopping its map, and the hold holding a's departure pass's MSG_PROXY of k. stopped
// gets x's Stop's error once a's pass (run on a's receiving goroutine by x's MSG_STOP)
// ended.
type stoppedPass struct {
	nodes   []*node
	a, x    *node
	stopped <-chan error
}

// holdStopPass builds a stoppedPass of k put as v; a cleanup releases what the hold
// holds before the maps and channels stop.
func holdStopPass(t *testing.T, hold *seqHold, k, v string) stoppedPass {
	t.Helper()
	cfg := replmap.Config{SendOptions: syncAck, AccessTimeout: time.Minute}
	p := stoppedPass{nodes: tcpClusterWith(t, 5, cfg, func(i int, ncfg *tribesnode.Config) {
		if i == 0 {
			ncfg.Above = []channel.Interceptor{hold}
		}
	})}
	t.Cleanup(hold.releaseAll)
	p.a = p.nodes[0]
	if _, err := p.a.m.Put(ctx(t), k, v); err != nil {
		t.Fatal(err)
	}
	if p.x = backupOf(p.nodes, p.a, k); p.x == nil {
		t.Fatal("no member holds a backup of a's k")
	}
	hold.arm()
	stopped := make(chan error, 1)
	p.stopped = stopped
	x := p.x
	go func() { stopped <- x.m.Stop(ctx(t)) }()
	hold.awaitHeld(t, "a's departure pass's MSG_PROXY of k", 1)
	return p
}
