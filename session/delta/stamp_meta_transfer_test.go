package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestTransferredMetaKeepsItsStamps: A logs a session in as bob; Q's concurrent delta,
// stamped below A's, logging it in as alice, reaches A, which skips it (its stamp is
// older), and reaches J only after J's state transfer from A. The transfer did not carry
// the principal's stamp, so J took alice: J and A disagreed on who is logged in.
func TestTransferredMetaKeepsItsStamps(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := startReady(t, nw, cfg)
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // version 3
		if err := s.SetPrincipal(&delta.Principal{Name: "bob"}); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	cfg.JvmRoute = "j"
	j := startReady(t, nw, cfg)
	if p := j.m.Find(s.ID()).Principal(); p == nil || p.Name != "bob" {
		t.Fatalf("J's transferred copy: principal %v, want bob", p)
	}
	q := newRaw(t, nw, nil)
	alice, err := delta.EncodePrincipal(&delta.Principal{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	late := repairMsg(delta.EventDelta, s.ID(), time.Now().UnixMilli())
	late.Version = 2
	late.Actions = []delta.Action{{Type: delta.ActionPrincipal, Op: delta.OpSet, Name: "__SET__PRINCIPAL__", Value: alice}}
	for _, to := range []*node{a, j} {
		q.send(t, to.ch.LocalMember(), late)
	}
	pa, pj := s.Principal(), j.m.Find(s.ID()).Principal()
	if pa == nil || pa.Name != "bob" {
		t.Fatalf("A's principal %v, want bob (Q's delta is older)", pa)
	}
	if pj == nil || pj.Name != "bob" {
		t.Errorf("J's principal %v, A's bob: the transferred copy took Q's older change", pj)
	}
}
