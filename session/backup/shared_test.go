package backup_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// blobObject is an object of a class Go does not map holding a 256 KiB byte[] (a realm's
// user principal, an application's object).
func blobObject(t *testing.T) *jserial.Object {
	t.Helper()
	desc := &jserial.ClassDesc{Name: "com.example.Blob", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: '[', Name: "blob", Signature: "[B"}}}
	o, err := jserial.NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 256<<10)
	for i := range blob {
		blob[i] = byte(i)
	}
	if err := o.SetField("blob", blob); err != nil {
		t.Fatal(err)
	}
	return o
}

// javaStream writes contents as one stream, objects shared across them.
func javaStream(t *testing.T, contents []any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := jserial.NewEncoder(&buf, jserial.EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range contents {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// A diff (DeltaSession.getDiff's DeltaRequest) whose 256 principal actions all refer to
// one SerializablePrincipal wrapping a 256 KiB user principal must cost about its size to
// apply: delta.JavaCodec encodes the shared principal once, and Session.ApplyDiff decodes
// only the last principal action (each replaces the principal). Before, it called
// delta.DecodePrincipal on every one (the Java stream unmarshalled and its graph converted
// again, 240 MB for a 270 KB diff).
func TestApplyDiffSharedPrincipalDecodedOnce(t *testing.T) {
	const id, n = "A1.node1", 256
	pb, err := delta.EncodePrincipal(&delta.Principal{Name: "alice", Roles: []string{"user"}, User: blobObject(t)})
	if err != nil {
		t.Fatal(err)
	}
	one, err := delta.JavaCodec{}.EncodeDeltaRequest(id, []delta.Action{{Type: delta.ActionPrincipal, Op: delta.OpSet,
		Name: "__SET__PRINCIPAL__", Value: pb}})
	if err != nil {
		t.Fatal(err)
	}
	contents, err := jserial.UnmarshalAll(one, jserial.DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var principal *jserial.Object
	for _, c := range contents {
		if o, ok := c.(*jserial.Object); ok {
			principal = o
		}
	}
	if principal == nil {
		t.Fatalf("no principal object in %T", contents)
	}
	var w jserial.DataWriter
	if err := w.WriteUTF(id); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(false)
	w.WriteInt32(n)
	for range n {
		w.WriteInt32(int32(delta.ActionPrincipal))
		w.WriteInt32(int32(delta.OpSet))
		if err := w.WriteUTF("__SET__PRINCIPAL__"); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject(principal)
	}
	diff := javaStream(t, w.Contents())
	if len(diff) > 300<<10 {
		t.Fatalf("the diff is %d bytes: the principal is not shared", len(diff))
	}
	s := backup.NewSession(id, time.Hour, backup.Limits{})
	got := testutil.Allocated(func() { err = s.ApplyDiff(diff) })
	if err == nil && (s.Principal() == nil || s.Principal().Name != "alice") {
		t.Fatalf("principal %+v", s.Principal())
	}
	// One principal decoded (its stream unmarshalled, its graph viewed and compared) costs
	// a few times its size.
	if limit := uint64(8*len(diff) + 1<<20); got > limit {
		t.Errorf("a %d-byte diff of %d principal actions sharing one principal: %d bytes allocated (err %v), want at most %d",
			len(diff), n, got, err, limit)
	}
}

// A DeltaSession stream (BackupManager's map value, decoded by backup.Codec for a
// MSG_BACKUP, MSG_COPY, a state transfer's copy or a Get's reply) whose 256 attributes are
// distinct small lists all holding one 256 KiB object must cost about its size to decode
// (or be refused): the session is 64 MiB once each attribute is its own stream, beyond
// Limits.MaxSessionBytes (16 MiB). Codec.Decode gives delta.JavaCodec.DecodeSessionData a
// budget of MaxExpansion times the size of the session's stream (plus 128 KiB); before,
// DecodeSessionData marshalled every attribute with its copy of the shared object (86 MB)
// and Decode checked MaxSessionBytes after. As session/delta's tests do, the mechanism is
// checked at MaxExpansion 4 (at most 8 times the stream plus 1 MiB), the default (16) at
// DefaultMaxExpansion times the stream plus 2 MiB (TestJavaCodecSharedObjectDefaultBudget).
func TestDecodeSessionSharedInner(t *testing.T) {
	const n = 256
	blob := blobObject(t)
	s := backup.NewSession("A1.node1", time.Hour, backup.Limits{})
	one, err := (backup.Codec{}).Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	// The stream of a session without attributes ends with the attribute count 0 and the
	// listener count 0 (two int32 objects): rewrite it with n attributes.
	ext := one.(*jserial.Object).External
	if len(ext) < 2 || ext[len(ext)-2] != int32(0) || ext[len(ext)-1] != int32(0) {
		t.Fatalf("unexpected session layout: %#v", ext[max(0, len(ext)-3):])
	}
	var w jserial.DataWriter
	for _, c := range ext[:len(ext)-2] {
		if b, ok := c.(jserial.BlockData); ok {
			_, _ = w.Write(b)
		} else {
			w.WriteObject(c)
		}
	}
	w.WriteObject(int32(n))
	for i := range n {
		w.WriteObject(fmt.Sprint("a", i))
		w.WriteObject([]any{blob})
	}
	w.WriteObject(int32(0))
	obj := &jserial.Object{Class: one.(*jserial.Object).Class, External: w.Contents()}
	in, err := jserial.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the session stream is %d bytes: the object is not shared", len(in))
	}
	for _, c := range []struct {
		limits backup.Limits
		limit  uint64
	}{
		{backup.Limits{Java: delta.JavaCodec{MaxExpansion: 4}}, uint64(8*len(in) + 1<<20)},
		{backup.Limits{}, uint64(delta.DefaultMaxExpansion*len(in) + 2<<20)},
	} {
		var v any
		got := testutil.Allocated(func() {
			if v, err = jserial.Unmarshal(in); err == nil {
				_, err = (backup.Codec{Limits: c.limits}).Decode(v)
			}
		})
		// Decoding the stream and refusing it, or keeping its attributes within a budget
		// of a few times its size, costs a few times its size.
		if !errors.Is(err, delta.ErrDecodeBudget) {
			t.Errorf("MaxExpansion %d: %v, want ErrDecodeBudget", c.limits.Java.MaxExpansion, err)
		}
		if got > c.limit {
			t.Errorf("MaxExpansion %d: a %d-byte DeltaSession of %d attributes sharing one object: %d bytes allocated (err %v), want at most %d",
				c.limits.Java.MaxExpansion, len(in), n, got, err, c.limit)
		}
	}
}
