package replmap_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A put a key, its backup B or C. B's Remove of the key has reached C, its MSG_REMOVE to
// A held, when A's Replicate of the key in full sends its MSG_BACKUP to the backup; then
// the MSG_REMOVE reaches A. With B the backup, B's Remove, which the Replicate reached
// while its MSG_REMOVE was sent, removes the key again: no node holds it. With C the
// backup, B (a proxy) gets nothing of the Replicate and sends MSG_REMOVE once; A, the
// primary that MSG_REMOVE drops, tells its backup C (forward.go), which drops the key
// soon after. Before, C was left a backup of a primary that held nothing.
func TestReplicateDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing(t *testing.T) {
	for _, backup := range []int{1, 2} {
		t.Run(fmt.Sprintf("backup node %d", backup), func(t *testing.T) {
			nodes, _, split, release := crossCluster(t)
			a, b := nodes[0], nodes[1]
			if backup == 2 {
				// A's publish takes its map members in turn: this Put's backup is B,
				// the next one's C.
				if _, err := a.m.Put(ctx(t), "other", "x"); err != nil {
					t.Fatalf("A's Put of another key: %v", err)
				}
			}
			if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
				t.Fatalf("A's Put: %v", err)
			}
			if _, primary, held := nodes[backup].m.Peek("k"); !held || primary {
				t.Fatalf("node %d holds no backup of k:%s", backup, keyState(nodes))
			}
			split.armed.Store(true)
			removed := make(chan error, 1)
			go func() {
				_, err := b.m.Remove(ctx(t), "k")
				removed <- err
			}()
			select {
			case <-split.held: // B's MSG_REMOVE reached C; the one to A waits
			case err := <-removed:
				t.Fatalf("B's Remove returned (%v) without sending MSG_REMOVE", err)
			}
			if err := a.m.Replicate(ctx(t), "k", true); err != nil {
				t.Fatalf("A's Replicate: %v", err)
			}
			release()
			if err := await(t, "B's Remove", removed); err != nil {
				t.Fatalf("B's Remove: %v", err)
			}
			if backup == 2 { // A's removal reaches C after B's Remove returned
				testutil.EventuallyTrue(t, testutil.WaitLimit, "no node listing k", func() bool {
					return !slices.ContainsFunc(nodes, func(n *node) bool { return slices.Contains(n.m.Keys(), any("k")) })
				})
			}
			for i, n := range nodes {
				if slices.Contains(n.m.Keys(), any("k")) {
					t.Errorf("node %d lists k once B's Remove returned:%s", i, keyState(nodes))
				}
			}
		})
	}
}

// A put a key, its backup C, B a proxy. B's Remove of the key has reached A, its
// MSG_REMOVE to C held, when C's Get takes the entry over (the backup becomes the
// primary, picks a new backup and sends the others a proxy); then the MSG_REMOVE reaches
// C. B, which C's publish reached while its MSG_REMOVE was sent, removes the key again:
// no node holds it. A's removal forwarded to its backup C (forward.go) is held until
// then too: it would drop C's backup before the Get; C's primary ignores it.
func TestGetTakeoverDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing(t *testing.T) {
	nodes, hold, split, release := crossCluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	// A's publish takes its map members in turn: the Put of k's backup is C.
	if _, err := a.m.Put(ctx(t), "other", "x"); err != nil {
		t.Fatalf("A's Put of another key: %v", err)
	}
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatalf("A's Put: %v", err)
	}
	if _, primary, held := c.m.Peek("k"); !held || primary {
		t.Fatalf("C holds no backup of k:%s", keyState(nodes))
	}
	split.last = c.ch.LocalMember() // before armed: the send reads it after
	split.armed.Store(true)
	hold.typ = msgRemoveType // A's first MSG_REMOVE: the forwarded removal
	hold.armed.Store(true)
	removed := make(chan error, 1)
	go func() {
		_, err := b.m.Remove(ctx(t), "k")
		removed <- err
	}()
	select {
	case <-split.held: // B's MSG_REMOVE reached A; the one to C waits
	case err := <-removed:
		t.Fatalf("B's Remove returned (%v) without sending MSG_REMOVE", err)
	}
	if v, ok, err := c.m.Get(ctx(t), "k"); err != nil || !ok || v != "v" {
		t.Fatalf("C's Get = %v, %v, %v, want v", v, ok, err)
	}
	release()
	if err := await(t, "B's Remove", removed); err != nil {
		t.Fatalf("B's Remove: %v", err)
	}
	for i, n := range nodes {
		if slices.Contains(n.m.Keys(), any("k")) {
			t.Errorf("node %d lists k once B's Remove returned:%s", i, keyState(nodes))
		}
	}
}

// B, at MaxEntries, refuses the MSG_PROXY of A's Put of a key (its backup C) that comes
// while B's Remove of the key sends, its MSG_REMOVE having reached C and the one to A
// held until A's Put returned. Before, B counted only a publish it applied, sent
// MSG_REMOVE once, and C was left a backup of a primary (A) that held nothing. Now the
// refused publish counts too: B removes the key again, and no node holds it.
func TestRefusedPutDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing(t *testing.T) {
	nodes, _, split, release := crossClusterWith(t, replmap.Config{MaxEntries: 1})
	a, b, c := nodes[0], nodes[1], nodes[2]
	// B's only entry: the backup of A's first Put (A's publish takes its map members in
	// turn: the Put of k's backup is C).
	if _, err := a.m.Put(ctx(t), "other", "x"); err != nil {
		t.Fatalf("A's Put of another key: %v", err)
	}
	if _, primary, held := b.m.Peek("other"); !held || primary {
		t.Fatalf("B holds no backup of A's first key")
	}
	split.armed.Store(true)
	removed := make(chan error, 1)
	go func() {
		_, err := b.m.Remove(ctx(t), "k")
		removed <- err
	}()
	select {
	case <-split.held: // B's MSG_REMOVE reached C; the one to A waits
	case err := <-removed:
		t.Fatalf("B's Remove returned (%v) without sending MSG_REMOVE", err)
	}
	// A proxy that a member refused fails no Put: only the backup must hold the value.
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatalf("A's Put: %v", err)
	}
	if _, primary, held := c.m.Peek("k"); !held || primary {
		t.Fatalf("A's Put returned, C holds no backup of k:%s", keyState(nodes))
	}
	if slices.Contains(b.m.Keys(), any("k")) {
		t.Fatalf("B, at MaxEntries, took A's proxy of k:%s", keyState(nodes))
	}
	release()
	if err := await(t, "B's Remove", removed); err != nil {
		t.Fatalf("B's Remove: %v", err)
	}
	for i, n := range nodes {
		if slices.Contains(n.m.Keys(), any("k")) {
			t.Errorf("node %d lists k once A's Put and B's Remove returned:%s", i, keyState(nodes))
		}
	}
}
