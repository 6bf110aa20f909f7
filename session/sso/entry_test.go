package sso_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readGolden returns a stream Tomcat's classes wrote (scripts/gen-golden.sh sso:
// interop/java/tomcat/SsoGolden.java).
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "java", name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) *sso.Entry {
	t.Helper()
	v, err := jserial.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := sso.Codec{}.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	return e.(*sso.Entry)
}

func encode(t *testing.T, e *sso.Entry) []byte {
	t.Helper()
	v, err := sso.Codec{}.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jserial.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenEntries reads Tomcat's entries and writes each back to Java's bytes; an
// entry Go builds with the same contents is written with the same bytes too.
func TestGoldenEntries(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		user, auth, login, pw string
		roles                 []string
		sessions              int
		reauth                bool
	}{
		{"entry", "ann", "FORM", "ann", "secret", []string{"admin", "dev"}, 0, true},
		{"entry_session", "ann", "FORM", "ann", "secret", []string{"admin", "dev"}, 1, true},
		{"entry_no_principal", "", "BASIC", "bob", "", nil, 0, true},
		{"entry_empty", "", "", "", "", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := readGolden(t, tc.name)
			e := decode(t, want)
			if e.AuthType != tc.auth || e.Username != tc.login || e.Password != tc.pw || e.Sessions() != tc.sessions ||
				e.CanReauthenticate() != tc.reauth {
				t.Errorf("entry %+v, sessions %d", e, e.Sessions())
			}
			if tc.user == "" {
				if e.Principal != nil {
					t.Errorf("principal %+v", e.Principal)
				}
			} else if e.Principal == nil || e.Principal.Name != tc.user || !e.Principal.HasRole("dev") || !e.Principal.HasRole("admin") {
				t.Errorf("principal %+v", e.Principal)
			}
			if got := encode(t, e); !bytes.Equal(got, want) {
				t.Errorf("re-encoded differently:\n got %x\nwant %x", got, want)
			}
			// SsoGolden.java's session: "S1.node1" of context "/app" on host "localhost".
			key := sso.SessionKey{ID: "S1.node1", Context: "/app", Host: "localhost"}
			if tc.sessions > 0 && !slices.Equal(e.SessionKeys(), []sso.SessionKey{key}) {
				t.Errorf("session keys %+v", e.SessionKeys())
			}
			fresh := &sso.Entry{AuthType: tc.auth, Username: tc.login, Password: tc.pw}
			if tc.user != "" {
				fresh.Principal = &delta.Principal{Name: tc.user, Roles: tc.roles}
			}
			if tc.sessions > 0 && !fresh.AddSession(key) {
				t.Error("AddSession of a new key reported it present")
			}
			if got := encode(t, fresh); !bytes.Equal(got, want) {
				t.Errorf("an entry built in Go encodes differently:\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestDecodeRefusesOtherClasses: a map value that is not a SingleSignOnEntry is an
// ErrBadEntry.
func TestDecodeRefusesOtherClasses(t *testing.T) {
	for _, v := range []any{"text", int32(1), nil, &jserial.Object{Class: &jserial.ClassDesc{Name: "x.Y"}}} {
		if _, err := (sso.Codec{}).Decode(v); err == nil {
			t.Errorf("Decode(%v) accepted", v)
		}
	}
}

// TestOtherPrincipalCarried: an entry whose principal is of a realm's own class is read
// without a Principal and written back with that principal as it came.
func TestOtherPrincipalCarried(t *testing.T) {
	v, err := jserial.Unmarshal(readGolden(t, "entry"))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*jserial.Object)
	custom := &jserial.ClassDesc{Name: "com.example.MyPrincipal", SUID: 5, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'L', Name: "name", Signature: "Ljava/lang/String;"}}}
	p, err := jserial.NewObject(custom)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetField("name", "carol"); err != nil {
		t.Fatal(err)
	}
	o.Slots[0].Annotation()[1] = p
	want, err := jserial.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	e := decode(t, want)
	if e.Principal != nil || e.Username != "ann" {
		t.Fatalf("entry %+v", e)
	}
	if got := encode(t, e); !bytes.Equal(got, want) {
		t.Errorf("re-encoded differently:\n got %x\nwant %x", got, want)
	}
}

// TestSessionKeys: sessions added and removed are written and read back; a key is held
// once; removing one from a copy leaves the original as it was.
func TestSessionKeys(t *testing.T) {
	e := &sso.Entry{AuthType: "FORM", Username: "ann", Password: "secret"}
	a := sso.SessionKey{ID: "A1", Context: "/app", Host: "localhost"}
	b := sso.SessionKey{ID: "B2", Context: "", Host: "other"}
	if !e.AddSession(a) || !e.AddSession(b) || e.AddSession(a) {
		t.Fatal("AddSession: a new key must be added, a present one not")
	}
	back := decode(t, encode(t, e))
	if !slices.Equal(back.SessionKeys(), []sso.SessionKey{a, b}) {
		t.Fatalf("read back %+v", back.SessionKeys())
	}
	if a.ManagerName() != "localhost#/app" || b.ManagerName() != "other#" {
		t.Errorf("manager names %q, %q", a.ManagerName(), b.ManagerName())
	}
	keys := back.SessionKeys()
	if !back.RemoveSession(a) || back.RemoveSession(a) || back.Sessions() != 1 {
		t.Fatalf("RemoveSession: %+v", back.SessionKeys())
	}
	if !slices.Equal(keys, []sso.SessionKey{a, b}) {
		t.Errorf("SessionKeys' copy changed: %+v", keys)
	}
	if again := decode(t, encode(t, back)); !slices.Equal(again.SessionKeys(), []sso.SessionKey{b}) {
		t.Errorf("after RemoveSession, read back %+v", again.SessionKeys())
	}
}

// TestTooManySessionKeys: an entry whose map lists more than MaxSessionKeys sessions is
// refused.
func TestTooManySessionKeys(t *testing.T) {
	e := &sso.Entry{}
	e.AddSession(sso.SessionKey{ID: "S1", Context: "/app", Host: "localhost"})
	v, err := sso.Codec{}.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := v.(*jserial.Object).Field("sessionKeys")
	m := keys.(*jserial.Object)
	sl := &m.Slots[len(m.Slots)-1]
	pair := slices.Clone(sl.Annotation()[:2])
	if _, err := (sso.Codec{}).Decode(v); err != nil {
		t.Fatalf("one session: %v", err)
	}
	var ann []any
	for range sso.MaxSessionKeys + 1 {
		ann = append(ann, pair...)
	}
	sl.SetAnnotation(append(ann, nil, nil))
	if _, err := (sso.Codec{}).Decode(v); !errors.Is(err, sso.ErrBadEntry) {
		t.Fatalf("Decode of %d sessions: %v, want ErrBadEntry", sso.MaxSessionKeys+1, err)
	}
}

// TestTemplateIsGolden: the template Go writes new entries from is Tomcat's empty entry
// (copy testdata/java/entry_empty.ser to empty_entry.ser after regenerating).
func TestTemplateIsGolden(t *testing.T) {
	b, err := os.ReadFile("empty_entry.ser")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, readGolden(t, "entry_empty")) {
		t.Error("empty_entry.ser differs from testdata/java/entry_empty.ser")
	}
}

// TestReplaceSession: a renamed session's key takes the old one's place; a key not listed
// changes nothing, and a new key already listed is not listed twice.
func TestReplaceSession(t *testing.T) {
	k := func(id string) sso.SessionKey { return sso.SessionKey{ID: id, Context: "/app", Host: "localhost"} }
	var e sso.Entry
	e.AddSession(k("A"))
	e.AddSession(k("B"))
	if !e.ReplaceSession(k("A"), k("A2")) || !slices.Equal(e.SessionKeys(), []sso.SessionKey{k("A2"), k("B")}) {
		t.Fatalf("A renamed to A2: %v", e.SessionKeys())
	}
	if e.ReplaceSession(k("A"), k("A3")) || !slices.Equal(e.SessionKeys(), []sso.SessionKey{k("A2"), k("B")}) {
		t.Fatalf("A no longer listed: %v", e.SessionKeys())
	}
	if !e.ReplaceSession(k("A2"), k("B")) || !slices.Equal(e.SessionKeys(), []sso.SessionKey{k("B")}) {
		t.Fatalf("A2 renamed to the listed B: %v", e.SessionKeys())
	}
}
