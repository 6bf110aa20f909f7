package sso_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

func startSSO(t *testing.T, nw *channeltest.Network) *sso.SSO {
	t.Helper()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	s, err := sso.New(sso.Config{Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// TestLoginLogout: a login on one node signs the user on on the other, which sees the
// entry from the cookie; a logout there signs the user off both and expires the cookie.
func TestLoginLogout(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, b := startSSO(t, nw), startSSO(t, nw)
	w := httptest.NewRecorder()
	id, err := a.Login(ctx, w, httptest.NewRequest(http.MethodPost, "/login", nil),
		&sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "BASIC", Username: "ann", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != sso.DefaultCookieName || cookies[0].Value != id || cookies[0].Path != "/" ||
		!cookies[0].HttpOnly || len(id) != 32 {
		t.Fatalf("cookie %+v for id %q", cookies, id)
	}
	var seen *sso.Entry
	var seenID string
	page := b.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, seenID = sso.FromContext(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookies[0])
	page.ServeHTTP(httptest.NewRecorder(), req)
	if seen == nil || seen.Principal.Name != "ann" || seen.Password != "pw" || seenID != id {
		t.Fatalf("node b saw %+v (%q)", seen, seenID)
	}
	out := httptest.NewRecorder()
	if err := b.Logout(ctx, out, req); err != nil {
		t.Fatal(err)
	}
	if c := out.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout cookie %+v", c)
	}
	for _, s := range []*sso.SSO{a, b} {
		if e, err := s.Lookup(ctx, id); e != nil || err != nil {
			t.Errorf("after logout: %+v %v", e, err)
		}
	}
	page.ServeHTTP(httptest.NewRecorder(), req)
	if seen != nil {
		t.Errorf("signed on after the logout: %+v", seen)
	}
}

func TestNewNeedsChannel(t *testing.T) {
	if _, err := sso.New(sso.Config{}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("New without channel: %v", err)
	}
}

// FuzzEntry: decoding a map value never panics; what decodes encodes and decodes to an
// entry with the same principal and credentials.
func FuzzEntry(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "java", "*.ser"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	limits := jserial.DecoderConfig{MaxBytes: 1 << 20, MaxArrayLen: 1 << 12, MaxDepth: 32, MaxHandles: 1 << 12}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := jserial.UnmarshalConfig(b, limits)
		if err != nil {
			return
		}
		d, err := sso.Codec{}.Decode(v)
		if err != nil {
			return
		}
		e := d.(*sso.Entry)
		o, err := sso.Codec{}.Encode(e)
		if err != nil {
			return // a principal without a Java form, say
		}
		out, err := jserial.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := jserial.Unmarshal(out)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := sso.Codec{}.Decode(v2)
		if err != nil {
			t.Fatal(err)
		}
		e2 := d2.(*sso.Entry)
		if e2.AuthType != e.AuthType || e2.Username != e.Username || e2.Password != e.Password ||
			(e.Principal == nil) != (e2.Principal == nil) || e.Principal != nil && e.Principal.Name != e2.Principal.Name {
			t.Fatalf("round trip: %+v, then %+v", e, e2)
		}
	})
}
