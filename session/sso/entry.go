package sso

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// entryClass is Tomcat's single sign-on entry; genericPrincipalClass the form Tomcat
// serializes its GenericPrincipal in.
const (
	entryClass            = "org.apache.catalina.authenticator.SingleSignOnEntry"
	genericPrincipalClass = "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"
)

// emptyEntry is a SingleSignOnEntry without principal, credentials or sessions, as
// Tomcat 10.1 serializes it (interop/java/tomcat/SsoGolden.java): the entries Go creates
// are written from it, since its map of sessions (a ConcurrentHashMap) has a Java form
// of its own.
//
//go:embed empty_entry.ser
var emptyEntry []byte

// ErrBadEntry is wrapped by the errors of entries that are not a SingleSignOnEntry.
var ErrBadEntry = errors.New("sso: not a SingleSignOnEntry")

// Entry is a user signed on to every application of the cluster (Tomcat's
// SingleSignOnEntry): the principal the applications see, and what Tomcat needs to
// authenticate the user again in an application that asks for credentials.
type Entry struct {
	// Principal is the user; nil if the entry has none, or one of another class than
	// Tomcat's GenericPrincipal (written back as it came).
	Principal *delta.Principal
	// AuthType is the authentication method ("BASIC", "FORM", ...).
	AuthType string
	// Username and Password are the credentials, kept by Tomcat for BASIC and FORM
	// logins ("" otherwise).
	Username, Password string

	// java is the entry as read, whose sessions (the applications' sessions of the
	// user, which Tomcat expires on logout) are written back with it.
	java *jserial.Object
	// other is a principal of a class other than GenericPrincipal, kept as read and
	// written back while Principal is nil.
	other any
}

// CanReauthenticate reports whether Tomcat can log the user in again with the entry's
// credentials: BASIC and FORM logins.
func (e *Entry) CanReauthenticate() bool { return e.AuthType == "BASIC" || e.AuthType == "FORM" }

// Sessions reports how many application sessions the entry holds (those Tomcat
// associated with the user; Go does not add to them).
func (e *Entry) Sessions() int {
	if e.java == nil {
		return 0
	}
	keys, _ := e.java.Field("sessionKeys")
	o, ok := keys.(*jserial.Object)
	if !ok {
		return 0
	}
	return countEntries(o)
}

// Codec is the replmap.ValueCodec of the single sign-on map: SingleSignOnEntry objects
// as *Entry.
type Codec struct{}

// Decode reads a SingleSignOnEntry.
func (Codec) Decode(v any) (any, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class == nil || o.Class.Name != entryClass {
		return nil, fmt.Errorf("%w: %T", ErrBadEntry, v)
	}
	f := jserial.Fields{Object: o}
	e := &Entry{java: o, AuthType: jserial.FieldAs[string](&f, "authType"),
		Username: jserial.FieldAs[string](&f, "username"), Password: jserial.FieldAs[string](&f, "password")}
	if f.Err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, f.Err)
	}
	var err error
	// writeObject: a boolean (the principal follows), then the principal.
	ann := entrySlot(o).Annotation
	if len(ann) > 0 {
		if b, ok := ann[0].(jserial.BlockData); ok && len(b) > 0 && b[0] != 0 {
			if len(ann) < 2 {
				return nil, fmt.Errorf("%w: principal announced but missing", ErrBadEntry)
			}
			if o, ok := ann[1].(*jserial.Object); !ok || o.Class == nil || o.Class.Name != genericPrincipalClass {
				e.other = ann[1] // a realm's own principal class: carried, not read
			} else if e.Principal, err = delta.PrincipalFromJava(o); err != nil {
				return nil, fmt.Errorf("sso: entry principal: %w", err)
			}
		}
	}
	return e, nil
}

// Encode writes e as a SingleSignOnEntry: its principal, credentials and, for an entry
// read from Tomcat, the sessions Tomcat recorded.
func (Codec) Encode(v any) (any, error) {
	e, ok := v.(*Entry)
	if !ok {
		return nil, fmt.Errorf("sso: cannot encode %T", v)
	}
	tv, err := jserial.Unmarshal(emptyEntry)
	if err != nil {
		return nil, err
	}
	o := tv.(*jserial.Object)
	if e.java != nil { // keep the sessions Tomcat recorded
		keys, _ := e.java.Field("sessionKeys")
		if err := o.SetField("sessionKeys", keys); err != nil {
			return nil, err
		}
	}
	set := func(name, s string) error {
		if s == "" {
			return o.SetField(name, nil)
		}
		return o.SetField(name, s)
	}
	if err := errors.Join(set("authType", e.AuthType), set("username", e.Username), set("password", e.Password),
		o.SetField("canReauthenticate", e.CanReauthenticate())); err != nil {
		return nil, err
	}
	sl := entrySlot(o)
	switch {
	case e.Principal == nil && e.other != nil:
		sl.Annotation = []any{jserial.BlockData{1}, e.other}
		return o, nil
	case e.Principal == nil:
		sl.Annotation = []any{jserial.BlockData{0}}
		return o, nil
	}
	p, err := delta.PrincipalToJava(e.Principal)
	if err != nil {
		return nil, err
	}
	sl.Annotation = []any{jserial.BlockData{1}, p}
	return o, nil
}

// entrySlot returns the class data of SingleSignOnEntry in o.
func entrySlot(o *jserial.Object) *jserial.Slot {
	for i := range o.Slots {
		if o.Slots[i].Class.Name == entryClass {
			return &o.Slots[i]
		}
	}
	return &jserial.Slot{}
}

// countEntries counts the entries of a serialized java.util.concurrent.ConcurrentHashMap:
// its writeObject writes each key and value, then a null key and value.
func countEntries(o *jserial.Object) int {
	for _, sl := range o.Slots {
		if sl.Class.Name != "java.util.concurrent.ConcurrentHashMap" {
			continue
		}
		n := 0
		for i := 0; i+1 < len(sl.Annotation) && sl.Annotation[i] != nil; i += 2 {
			n++
		}
		return n
	}
	return 0
}
