package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// readGolden returns a stream the real catalina-ha classes wrote (scripts/gen-golden.sh
// backup: interop/java/tomcat/BackupGolden.java).
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "java", name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeSession decodes a DeltaSession stream as the map does: jserial, then the Codec.
func decodeSession(t testing.TB, b []byte) *backup.Session {
	t.Helper()
	v, err := jserial.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := backup.Codec{}.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*backup.Session)
}

// encodeSession encodes a session as the map does.
func encodeSession(t testing.TB, s *backup.Session) []byte {
	t.Helper()
	v, err := backup.Codec{}.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jserial.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func attr(t *testing.T, s *backup.Session, name string) any {
	t.Helper()
	v, ok, err := s.Get(name)
	if err != nil || !ok {
		t.Fatalf("attribute %q: ok %v, %v", name, ok, err)
	}
	return v
}

// TestGoldenSession decodes the DeltaSessions BackupManager's map carries, checks what
// they hold, and encodes them back to the bytes Java wrote.
func TestGoldenSession(t *testing.T) {
	const created = 1700000000000
	s := decodeSession(t, readGolden(t, "session"))
	if s.ID() != "A1.node1" || s.CreationTime().UnixMilli() != created || s.LastAccessedTime().UnixMilli() != created ||
		s.MaxInactive() != 30*time.Minute || !s.IsNew() || s.Version() != 3 {
		t.Errorf("session %s created %v accessed %v max %v new %v version %d", s.ID(), s.CreationTime(),
			s.LastAccessedTime(), s.MaxInactive(), s.IsNew(), s.Version())
	}
	if got := attr(t, s, "counter"); got != 1 {
		t.Errorf("counter %v", got)
	}
	if got := attr(t, s, "username"); got != "bob" {
		t.Errorf("username %v", got)
	}
	if o, ok := attr(t, s, "cart").(*jserial.Object); !ok || o.Class.Name != "BackupGolden$Cart" {
		t.Errorf("cart %#v", attr(t, s, "cart"))
	}
	if p := s.Principal(); p == nil || p.Name != "alice" || !p.HasRole("member") {
		t.Errorf("principal %+v", p)
	}
	if s.Dirty() {
		t.Error("a received session is dirty")
	}
	for _, name := range []string{"session", "session_empty"} {
		want := readGolden(t, name)
		if got := encodeSession(t, decodeSession(t, want)); !bytes.Equal(got, want) {
			t.Errorf("%s: re-encoded differently:\n got %x\nwant %x", name, got, want)
		}
	}
	e := decodeSession(t, readGolden(t, "session_empty"))
	if e.ID() != "E1.node2" || e.MaxInactive() != time.Minute || e.IsNew() || len(e.AttributeNames()) != 0 {
		t.Errorf("empty session %s max %v new %v attributes %v", e.ID(), e.MaxInactive(), e.IsNew(), e.AttributeNames())
	}
}

// TestGoldenDiff applies the diffs DeltaSession.getDiff wrote to the session they were
// taken of, and checks that Go writes the same DeltaRequest bytes for the same actions.
func TestGoldenDiff(t *testing.T) {
	s := decodeSession(t, readGolden(t, "session"))
	if err := s.ApplyDiff(readGolden(t, "diff")); err != nil {
		t.Fatal(err)
	}
	if got := attr(t, s, "counter"); got != 2 {
		t.Errorf("counter %v", got)
	}
	if got, ok := attr(t, s, "list").([]any); !ok || len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("list %v", attr(t, s, "list"))
	}
	if _, ok, _ := s.Get("username"); ok {
		t.Error("username not removed")
	}
	if s.MaxInactive() != 15*time.Minute || s.IsNew() {
		t.Errorf("max %v new %v", s.MaxInactive(), s.IsNew())
	}
	if s.Dirty() {
		t.Error("an applied diff made the session dirty")
	}
	if err := s.ApplyDiff(readGolden(t, "diff_principal")); err != nil {
		t.Fatal(err)
	}
	if p := s.Principal(); p != nil {
		t.Errorf("principal %+v after its removal", p)
	}
	for _, name := range []string{"diff", "diff_principal"} {
		want := readGolden(t, name)
		id, actions, err := delta.JavaCodec{}.DecodeDeltaRequest(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := delta.JavaCodec{}.EncodeDeltaRequest(id, actions)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: re-encoded differently:\n got %x\nwant %x", name, got, want)
		}
	}
}
