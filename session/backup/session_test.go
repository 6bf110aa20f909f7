package backup_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestDiffRoundTrip changes a session, sends it in full and by diff to a copy, and checks
// the copy matches.
func TestDiffRoundTrip(t *testing.T) {
	s := backup.NewSession("S1.go", time.Hour, backup.Limits{})
	if err := s.Set("counter", 1); err != nil {
		t.Fatal(err)
	}
	if !s.Dirty() {
		t.Fatal("Set left the session clean")
	}
	cp := decodeSession(t, encodeSession(t, s))
	if got := attr(t, cp, "counter"); got != 1 || cp.ID() != "S1.go" || cp.MaxInactive() != time.Hour || !cp.IsNew() {
		t.Fatalf("copy: counter %v id %s max %v new %v", got, cp.ID(), cp.MaxInactive(), cp.IsNew())
	}
	if _, err := s.Diff(); err != nil { // sent in full: forget the change
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return s.Set("counter", 2) },
		func() error { return s.Set("name", "ann") },
		func() error { return s.Set("when", time.UnixMilli(1700000000000).UTC()) },
		func() error { s.Remove("name"); return nil },
		func() error { s.SetMaxInactive(10 * time.Minute); return nil },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if s.Dirty() {
		t.Error("dirty after Diff")
	}
	_, actions, err := delta.JavaCodec{}.DecodeDeltaRequest(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 4 { // counter, when, name (removed: its set replaced), the interval
		t.Errorf("%d actions, want 4: %+v", len(actions), actions)
	}
	if err := cp.ApplyDiff(d); err != nil {
		t.Fatal(err)
	}
	if got := attr(t, cp, "counter"); got != 2 {
		t.Errorf("counter %v", got)
	}
	if got := attr(t, cp, "when"); got != time.UnixMilli(1700000000000).UTC() {
		t.Errorf("when %v", got)
	}
	if _, ok, _ := cp.Get("name"); ok || cp.MaxInactive() != 10*time.Minute {
		t.Errorf("name present %v, max %v", ok, cp.MaxInactive())
	}
	if !slices.Equal(cp.AttributeNames(), s.AttributeNames()) {
		t.Errorf("names %v, want %v", cp.AttributeNames(), s.AttributeNames())
	}
}

// TestApplyDiffErrors: a bad diff, or one growing the session beyond MaxSessionBytes, is
// an error and leaves the session as it was.
func TestApplyDiffErrors(t *testing.T) {
	src := backup.NewSession("S1.go", 0, backup.Limits{})
	if err := src.Set("big", make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	if err := src.Set("counter", 5); err != nil {
		t.Fatal(err)
	}
	d, err := src.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.NewSession("S2.go", 0, backup.Limits{}).ApplyDiff(d); !errors.Is(err, backup.ErrOtherID) {
		t.Errorf("diff of another session: %v, want ErrOtherID", err)
	}
	small := backup.NewSession("S1.go", 0, backup.Limits{MaxSessionBytes: 1000})
	if err := small.ApplyDiff(d); !errors.Is(err, backup.ErrLimit) {
		t.Errorf("over the limit: %v, want ErrLimit", err)
	}
	if len(small.AttributeNames()) != 0 {
		t.Errorf("a refused diff applied %v", small.AttributeNames())
	}
	if err := small.Set("big", make([]byte, 2000)); !errors.Is(err, backup.ErrLimit) {
		t.Errorf("Set over the limit: %v", err)
	}
	for range 3 { // replacing a value counts it once
		if err := small.Set("half", make([]byte, 400)); err != nil {
			t.Fatalf("Set within the limit: %v", err)
		}
	}
	for _, bad := range [][]byte{nil, {0xAC, 0xED, 0, 5}, d[:len(d)-3], append(append([]byte{}, d...), 0x70)} {
		if err := small.ApplyDiff(bad); !errors.Is(err, delta.ErrMalformed) {
			t.Errorf("diff %x: %v, want ErrMalformed", bad, err)
		}
	}
	if _, err := (backup.Codec{}).Decode("not a session"); !errors.Is(err, backup.ErrNotSession) {
		t.Errorf("Decode of a string: %v", err)
	}
	if _, err := (backup.Codec{}).Encode(42); !errors.Is(err, backup.ErrNotSession) {
		t.Errorf("Encode of an int: %v", err)
	}
}

// TestAccess: a session used on another node becomes non-primary and used now; one not
// replicated for its max inactive interval asks for an access message.
func TestAccess(t *testing.T) {
	s := backup.NewSession("S1.go", time.Second, backup.Limits{})
	if !s.Primary() || s.AccessReplicate() {
		t.Fatalf("new session: primary %v, access replicate %v", s.Primary(), s.AccessReplicate())
	}
	s.Replicated(time.Now().Add(-2 * time.Second))
	if !s.AccessReplicate() {
		t.Error("no access replication after the max inactive interval")
	}
	s.Accessed()
	if s.Primary() || s.IsNew() {
		t.Errorf("after Accessed: primary %v new %v", s.Primary(), s.IsNew())
	}
	never := backup.NewSession("S2.go", -1, backup.Limits{})
	never.Replicated(time.Time{})
	if never.AccessReplicate() || never.Expired(time.Now().Add(1000*time.Hour)) {
		t.Error("a session that never expires asks for access replication or expires")
	}
	if !s.Expired(time.Now().Add(2 * time.Second)) {
		t.Error("not expired after its interval")
	}
}

// FuzzSession feeds arbitrary bytes to the value decoder and, as a diff, to a session:
// errors, never a panic; a decoded session encodes again.
func FuzzSession(f *testing.F) {
	for _, name := range []string{"session", "session_empty", "diff", "diff_principal"} {
		f.Add(readGolden(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := jserial.Unmarshal(b); err == nil {
			if s, err := (backup.Codec{}).Decode(v); err == nil {
				if _, err := (backup.Codec{}).Encode(s); err != nil {
					t.Logf("decoded session does not encode: %v", err)
				}
			}
		}
		s := backup.NewSession("A1.node1", 0, backup.Limits{MaxSessionBytes: 1 << 16}) // the golden diffs' id
		_ = s.ApplyDiff(b)
		_, _ = s.Diff()
	})
}

// TestPrincipalAndAuthType: the principal a Go handler sets reaches a copy in full and by
// diff, the authentication type by diff (Tomcat's DeltaRequest actions), and so does
// their removal; a principal without a Java form is refused and changes nothing.
func TestPrincipalAndAuthType(t *testing.T) {
	s := backup.NewSession("S1.go", time.Hour, backup.Limits{})
	p := &delta.Principal{Name: "gopher", Roles: []string{"dev", "admin"}, Attributes: map[string]any{"level": 3}}
	if err := s.SetPrincipal(p); err != nil {
		t.Fatal(err)
	}
	p.Roles[0] = "changed later" // the session keeps its own copy
	s.SetAuthType("FORM")
	cp := decodeSession(t, encodeSession(t, s))
	// Tomcat's DeltaSession stream carries the principal but not the authentication type.
	if got := cp.Principal(); got == nil || got.Name != "gopher" || !got.HasRole("dev") || !got.HasRole("admin") ||
		cp.AuthType() != "" {
		t.Fatalf("copy in full: principal %+v, auth type %q", got, cp.AuthType())
	}
	if v, ok := cp.Principal().Attribute("level"); !ok || v != 3 {
		t.Errorf("copy's principal attribute level: %v %v", v, ok)
	}
	if _, err := s.Diff(); err != nil {
		t.Fatal(err)
	}

	if err := s.SetPrincipal(&delta.Principal{Name: "nina", Roles: []string{"user"}}); err != nil {
		t.Fatal(err)
	}
	s.SetAuthType("BASIC")
	applyDiff(t, s, cp)
	if got := cp.Principal(); got == nil || got.Name != "nina" || !got.HasRole("user") || got.HasRole("dev") ||
		cp.AuthType() != "BASIC" {
		t.Fatalf("copy after a diff: principal %+v, auth type %q", got, cp.AuthType())
	}

	bad := &delta.Principal{Name: "x", Attributes: map[string]any{"c": make(chan int)}}
	if err := s.SetPrincipal(bad); !errors.Is(err, delta.ErrNoJavaForm) {
		t.Errorf("principal without a Java form: %v", err)
	}
	if s.Dirty() || s.Principal().Name != "nina" {
		t.Errorf("a refused principal changed the session: dirty %v, principal %+v", s.Dirty(), s.Principal())
	}

	if err := s.SetPrincipal(nil); err != nil {
		t.Fatal(err)
	}
	s.SetAuthType("")
	applyDiff(t, s, cp)
	if cp.Principal() != nil || cp.AuthType() != "" || s.Principal() != nil || s.AuthType() != "" {
		t.Errorf("after removal: copy %+v %q, session %+v %q", cp.Principal(), cp.AuthType(), s.Principal(), s.AuthType())
	}
}

// applyDiff sends s's changes to cp as a diff.
func applyDiff(t *testing.T, s, cp *backup.Session) {
	t.Helper()
	d, err := s.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.ApplyDiff(d); err != nil {
		t.Fatal(err)
	}
}
