package tomcatinterop_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestTomcatReadsGoDeltaSession has catalina-ha read a DeltaSession stream Go wrote (as
// BackupManager's map reads a value) and apply a diff Go wrote (DeltaSession.applyDiff),
// with attributes of several kinds and an object of a class only Java knows, carried from
// a stream Java wrote, and the principal (and, in the diff, the authentication type) a Go
// handler set.
func TestTomcatReadsGoDeltaSession(t *testing.T) {
	tomcat.Skip(t)
	golden, err := os.ReadFile(filepath.Join("..", "..", "session", "backup", "testdata", "java", "session.ser"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jserial.Unmarshal(golden)
	if err != nil {
		t.Fatal(err)
	}
	javaSession, err := backup.Codec{}.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	cart, _, err := javaSession.(*backup.Session).Get("cart")
	if err != nil {
		t.Fatal(err)
	}

	s := backup.NewSession("G1.go", time.Hour, backup.Limits{})
	for name, value := range map[string]any{"counter": 5, "name": "ann", "list": []any{"a", int64(7)}, "cart": cart} {
		if err := s.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	// A user a Go handler authenticated (the full stream carries no authentication type).
	if err := s.SetPrincipal(&delta.Principal{Name: "gopher", Roles: []string{"dev", "admin"}}); err != nil {
		t.Fatal(err)
	}
	s.SetAuthType("FORM")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	obj, err := backup.Codec{}.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	full, err := jserial.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sessionFile := write("session.ser", full)
	if _, err := s.Diff(); err != nil { // sent in full
		t.Fatal(err)
	}
	if err := s.Set("counter", 6); err != nil {
		t.Fatal(err)
	}
	s.Remove("name")
	s.SetMaxInactive(10 * time.Minute)
	if err := s.SetPrincipal(&delta.Principal{Name: "nina", Roles: []string{"user"}}); err != nil {
		t.Fatal(err)
	}
	s.SetAuthType("BASIC")
	d, err := s.Diff()
	if err != nil {
		t.Fatal(err)
	}
	diffFile := write("diff.ser", d)

	// The map's setOwner marks a received session used (endAccess): no longer new.
	created := strconv.FormatInt(s.CreationTime().UnixMilli(), 10)
	common := "id G1.go\ncreation " + created + "\n"
	if got, want := javaTool(t, "BackupGolden", "read", sessionFile), common+
		"maxInactive 3600\nnew false\nversion 0\nprincipal gopher [admin, dev]\nauthType null\n"+
		"attr cart BackupGolden$Cart carol/3\nattr counter java.lang.Integer 5\n"+
		"attr list java.util.ArrayList [a, 7]\nattr name java.lang.String ann\n"; got != want {
		t.Errorf("Java reads Go's session as\n%s\nwant\n%s", got, want)
	}
	if got, want := javaTool(t, "BackupGolden", "read", sessionFile, diffFile), common+
		"maxInactive 600\nnew false\nversion 0\nprincipal nina [user]\nauthType BASIC\n"+
		"attr cart BackupGolden$Cart carol/3\nattr counter java.lang.Integer 6\n"+
		"attr list java.util.ArrayList [a, 7]\n"; got != want {
		t.Errorf("Java applies Go's diff as\n%s\nwant\n%s", got, want)
	}
}

// TestTomcatReadsARepeatedAttributeName: a DeltaSession stream naming an attribute three
// times (a peer's stream may; Tomcat's own writeObject writes a map) is read by
// catalina-ha with the last value (its readObject puts each attribute into its map in
// order), and by Go's Codec alike: the name once, the last value
// (session/backup TestFullCopyWithAnAttributeTwice). Before, Go's Get read the first.
func TestTomcatReadsARepeatedAttributeName(t *testing.T) {
	tomcat.Skip(t)
	val := func(v any) []byte {
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	now := time.Now().UnixMilli()
	st := delta.SessionState{ID: "D1.go", CreationTime: now, LastAccessedTime: now, MaxInactive: 3600,
		Attributes: []delta.NamedValue{{Name: "x", Value: val(1)}, {Name: "y", Value: val("two")},
			{Name: "x", Value: val(3)}, {Name: "x", Value: val(5)}}}
	v, err := backup.Codec{}.Encode(backup.NewSession(st.ID, 0, backup.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*jserial.Object)
	if o.External, err = (delta.JavaCodec{}).SessionData(&st); err != nil {
		t.Fatal(err)
	}
	b, err := jserial.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "session.ser")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var javaAttrs []string
	for _, line := range strings.Split(javaTool(t, "BackupGolden", "read", file), "\n") {
		if strings.HasPrefix(line, "attr ") {
			javaAttrs = append(javaAttrs, line)
		}
	}
	if want := []string{"attr x java.lang.Integer 5", "attr y java.lang.String two"}; !slices.Equal(javaAttrs, want) {
		t.Fatalf("catalina-ha reads the attributes as %q, want %q", javaAttrs, want)
	}
	back, err := jserial.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	gv, err := backup.Codec{}.Decode(back)
	if err != nil {
		t.Fatal(err)
	}
	s := gv.(*backup.Session)
	x, _, err := s.Get("x")
	if err != nil || x != 5 || !slices.Equal(s.AttributeNames(), []string{"x", "y"}) {
		t.Fatalf("Go reads x = %v (%v), attributes %q; want 5 and [x y], as catalina-ha", x, err, s.AttributeNames())
	}
}
