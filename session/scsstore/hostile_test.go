package scsstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/scsstore"
)

// gobUint is encoding/gob's encoding of an unsigned integer.
func gobUint(n uint64) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	be := binary.BigEndian.AppendUint64(nil, n)
	for be[0] == 0 {
		be = be[1:]
	}
	return append([]byte{byte(-len(be))}, be...)
}

// scsData is what scs's GobCodec writes for a session holding "a": "b", with the map's
// count replaced by n (it holds one entry).
func scsData(t *testing.T, n uint64) []byte {
	t.Helper()
	good, err := scs.GobCodec{}.Encode(time.Now().Add(time.Hour), map[string]any{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	// The stream is messages, each its length (a gob uint) and its bytes; the value is
	// the last one. In it, the map: its count (1), then the key "a".
	last := 0
	for at := 0; at < len(good); {
		last = at
		var size, w uint64
		if good[at] < 0x80 {
			size, w = uint64(good[at]), 1
		} else {
			k := uint64(-int8(good[at]))
			for _, c := range good[at+1 : at+1+int(k)] {
				size = size<<8 | uint64(c)
			}
			w = 1 + k
		}
		at += int(w + size)
	}
	i := bytes.Index(good[last:], []byte{0x01, 0x01, 'a'})
	if i < 0 || good[last] >= 0x80 {
		t.Fatalf("unexpected layout % x", good)
	}
	i += last
	cnt := gobUint(n)
	out := append(append(bytes.Clone(good[:i]), cnt...), good[i+1:]...)
	out[last] += byte(len(cnt) - 1) // the value message's length
	return out
}

// A member can replicate any bytes as a session's scs data; scs's GobCodec would size a
// map for the count they announce (136 bytes announcing 2^22 entries: 336 MB). The
// store refuses such bytes: the session is not found, so scs starts a new one, and the
// node allocates little.
func TestHostileGobNotDecoded(t *testing.T) {
	_, ns := cluster(t, 2, delta.Config{Replication: delta.ReplicateAcked})
	a, b := ns[0], ns[1]
	if v, _, err := (scs.GobCodec{}).Decode(scsData(t, 1)); err != nil || v.IsZero() {
		t.Fatalf("the rewritten stream with its own count: %v %v", v, err)
	}
	ctx := context.Background()
	expiry := time.Now().Add(time.Hour)
	if err := a.st.Commit("good", scsData(t, 1), expiry); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint64{1 << 22, 1 << 31} {
		// What a member sends: scs's bytes after their expiry, set on its copy.
		if err := a.st.Commit("hostile", scsData(t, n), expiry); err != nil {
			t.Fatal(err)
		}
		before := b.st.Stats().Malformed
		var code int
		got := testutil.Allocated(func() { code, _, _ = get(b, "/get", "hostile") })
		if code != http.StatusOK {
			t.Errorf("count %d: scs answered %d", n, code)
		}
		if got > 4<<20 {
			t.Errorf("count %d: %d bytes allocated to serve the request", n, got)
		}
		if m := b.st.Stats().Malformed; m != before+1 {
			t.Errorf("count %d: Malformed %d, want %d", n, m, before+1)
		}
	}
	if d, found, err := b.st.FindCtx(ctx, "good"); !found || err != nil || len(d) == 0 {
		t.Errorf("the good session: found %v, %v", found, err)
	}
	// A store whose scs uses another Codec sets its own check.
	st, err := scsstore.New(scsstore.Config{Manager: b.m, Check: func(p []byte) error {
		if !bytes.HasPrefix(p, []byte("{")) {
			return errors.New("not JSON")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.st.Commit("json", []byte(`{"a":1}`), expiry); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := st.Find("json"); !found {
		t.Error("a check of its own: the JSON session not found")
	}
	if _, found, _ := st.Find("good"); found {
		t.Error("a check of its own: the gob session found")
	}
}

// Whatever bytes a member replicates, CheckGob and then scs's GobCodec (for bytes it
// accepts) return without a panic, and scs's own encodings pass.
func FuzzCheckGob(f *testing.F) {
	for _, values := range []map[string]any{{}, {"a": "b"}, {"n": 42, "list": []string{"x"}, "f": 1.5}} {
		b, err := scs.GobCodec{}.Encode(time.Unix(1_800_000_000, 0), values)
		if err != nil {
			f.Fatal(err)
		}
		if err := scsstore.CheckGob(b); err != nil {
			f.Fatalf("scs's own encoding of %v refused: %v", values, err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if scsstore.CheckGob(b) != nil {
			return
		}
		_, _, _ = scs.GobCodec{}.Decode(b)
	})
}
