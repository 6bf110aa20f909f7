package sso_test

import (
	"bytes"
	"os"
	"path/filepath"
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
			if tc.sessions > 0 {
				return // Go does not record sessions
			}
			fresh := &sso.Entry{AuthType: tc.auth, Username: tc.login, Password: tc.pw}
			if tc.user != "" {
				fresh.Principal = &delta.Principal{Name: tc.user, Roles: tc.roles}
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
	o.Slots[0].Annotation[1] = p
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
