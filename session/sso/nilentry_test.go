package sso_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/sso"
)

// catch runs f and returns the panic it raised, as an error, or nil.
func catch(f func()) (p error) {
	defer func() {
		if r := recover(); r != nil {
			p = fmt.Errorf("panic: %v", r)
		}
	}()
	f()
	return nil
}

// FromContext returns a nil *Entry for a request that is not signed on (outside Wrap, or
// no cookie of a known entry); the session packages' nil *Request was made safe (readers
// return zero values), but the *Entry methods a handler calls on what FromContext gave
// (Sessions, SessionKeys, CanReauthenticate) dereferenced it and panicked. (Found by review.)
func TestNilEntryMethods(t *testing.T) {
	e, id := sso.FromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context())
	if e != nil || id != "" {
		t.Fatalf("FromContext outside Wrap: %v %q", e, id)
	}
	for name, f := range map[string]func(){
		"Sessions":          func() { _ = e.Sessions() },
		"SessionKeys":       func() { _ = e.SessionKeys() },
		"CanReauthenticate": func() { _ = e.CanReauthenticate() },
		"ReplaceSession":    func() { _ = e.ReplaceSession(sso.SessionKey{ID: "a"}, sso.SessionKey{ID: "b"}) },
	} {
		if p := catch(f); p != nil {
			t.Errorf("(*Entry)(nil).%s: %v, want a zero value", name, p)
		}
	}
}

// Bad input gets a clear error, never a panic: Login (and Register) with a nil *Entry
// reached the map's value codec, whose Encode dereferenced the entry. (Found by review.)
func TestLoginNilEntry(t *testing.T) {
	s := startSSO(t, channeltest.NewNetwork())
	var err error
	p := catch(func() {
		_, err = s.Login(context.Background(), httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/login", nil), nil)
	})
	if p != nil {
		t.Fatalf("Login with a nil *Entry: %v, want an error", p)
	}
	if err == nil {
		t.Fatal("Login with a nil *Entry succeeded, want an error")
	}
}
