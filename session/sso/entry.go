package sso

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// entryClass is Tomcat's single sign-on entry; genericPrincipalClass the form Tomcat
// serializes its GenericPrincipal in.
const (
	entryClass            = "org.apache.catalina.authenticator.SingleSignOnEntry"
	genericPrincipalClass = "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"
	sessionKeyClass       = "org.apache.catalina.authenticator.SingleSignOnSessionKey"
	hashMapClass          = "java.util.concurrent.ConcurrentHashMap"
)

// MaxSessionKeys bounds the application sessions an entry read from a member may list;
// an entry with more is refused (ErrBadEntry).
const MaxSessionKeys = 4096

// sessionKeyDesc is Tomcat's SingleSignOnSessionKey (serialVersionUID 1): its fields in
// the order Java writes them.
var sessionKeyDesc = &jserial.ClassDesc{Name: sessionKeyClass, SUID: 1, Flags: jserial.SCSerializable,
	Fields: []jserial.Field{
		{Type: 'L', Name: "contextName", Signature: "Ljava/lang/String;"},
		{Type: 'L', Name: "hostName", Signature: "Ljava/lang/String;"},
		{Type: 'L', Name: "sessionId", Signature: "Ljava/lang/String;"},
	}}

// SessionKey names an application session of a signed-on user (Tomcat's
// SingleSignOnSessionKey): the session's id, the path of its context ("/app", "" for the
// root context) and the name of its host ("localhost").
type SessionKey struct {
	ID, Context, Host string
}

// ManagerName returns the name of the context's session manager in a Tomcat cluster in
// the Engine, "<host>#<context>" (delta.Config.Name of the Go node that shares its
// sessions); in a cluster in the Host the manager's name is the context's, k.Context.
func (k SessionKey) ManagerName() string { return k.Host + "#" + k.Context }

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
// SingleSignOnEntry): the principal the applications see, what Tomcat needs to
// authenticate the user again in an application that asks for credentials, and the
// user's application sessions. An Entry must not be copied (its sessions are held
// atomically); the entries of the map are shared, and only their sessions change. Its
// methods are safe on a nil *Entry (FromContext's for a request not signed on): readers
// return zero values, AddSession and RemoveSession false (TestNilEntryMethods).
type Entry struct {
	// Principal is the user; nil if the entry has none, or one of another class than
	// Tomcat's GenericPrincipal (written back as it came).
	Principal *delta.Principal
	// AuthType is the authentication method ("BASIC", "FORM", ...).
	AuthType string
	// Username and Password are the credentials, kept by Tomcat for BASIC and FORM
	// logins ("" otherwise).
	Username, Password string

	// keys are the application sessions of the user: Tomcat expires them when it signs
	// the user off (SessionKeys). Never changed in place: AddSession and RemoveSession
	// store a new slice.
	keys atomic.Pointer[[]SessionKey]
	// other is a principal of a class other than GenericPrincipal, kept as read and
	// written back while Principal is nil.
	other any
}

// CanReauthenticate reports whether Tomcat can log the user in again with the entry's
// credentials: BASIC and FORM logins.
func (e *Entry) CanReauthenticate() bool {
	return e != nil && (e.AuthType == "BASIC" || e.AuthType == "FORM")
}

// Sessions reports how many application sessions the entry lists.
func (e *Entry) Sessions() int { return len(e.sessionKeys()) }

// SessionKeys returns the application sessions of the user: those a Tomcat node
// associated with the entry when the user's requests reached them, and those added with
// AddSession (SSO.Associate). The node that signs the user off expires them (Tomcat: the
// sessions its own contexts hold; Go: Config.SignedOff).
func (e *Entry) SessionKeys() []SessionKey { return slices.Clone(e.sessionKeys()) }

func (e *Entry) sessionKeys() []SessionKey {
	if e == nil {
		return nil
	}
	if p := e.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// AddSession adds k to the entry's sessions, and reports whether it was not there yet.
// It is safe to call while the entry is read or encoded elsewhere (the map's entries
// are shared); SSO.Associate adds and replicates.
func (e *Entry) AddSession(k SessionKey) bool {
	return e.updateKeys(func(keys []SessionKey) ([]SessionKey, bool) {
		if slices.Contains(keys, k) {
			return nil, false
		}
		return append(slices.Clip(keys), k), true
	})
}

// RemoveSession removes k from the entry's sessions, and reports whether it was there.
func (e *Entry) RemoveSession(k SessionKey) bool {
	return e.updateKeys(func(keys []SessionKey) ([]SessionKey, bool) {
		i := slices.Index(keys, k)
		if i < 0 {
			return nil, false
		}
		return slices.Delete(slices.Clone(keys), i, i+1), true
	})
}

// ReplaceSession replaces old with k in the entry's sessions (a session renamed), and
// reports whether old was there; k is not listed twice. Both change at once: the entry
// never lists neither.
func (e *Entry) ReplaceSession(old, k SessionKey) bool {
	return e.updateKeys(func(keys []SessionKey) ([]SessionKey, bool) {
		i := slices.Index(keys, old)
		if i < 0 {
			return nil, false
		}
		next := slices.Clone(keys)
		if slices.Contains(next, k) {
			return slices.Delete(next, i, i+1), true
		}
		next[i] = k
		return next, true
	})
}

// updateKeys replaces the entry's sessions by what f makes of them, unless f reports no
// change, and reports whether they changed. f gets the current list (nil for none) and
// must not modify it; it runs again if another change came first.
func (e *Entry) updateKeys(f func([]SessionKey) ([]SessionKey, bool)) bool {
	if e == nil {
		return false
	}
	for {
		p := e.keys.Load()
		var keys []SessionKey
		if p != nil {
			keys = *p
		}
		next, ok := f(keys)
		if !ok {
			return false
		}
		if e.keys.CompareAndSwap(p, &next) {
			return true
		}
	}
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
	e := &Entry{AuthType: jserial.FieldAs[string](&f, "authType"),
		Username: jserial.FieldAs[string](&f, "username"), Password: jserial.FieldAs[string](&f, "password")}
	keys := jserial.FieldAs[*jserial.Object](&f, "sessionKeys")
	if f.Err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, f.Err)
	}
	ks, err := readSessionKeys(keys)
	if err != nil {
		return nil, err
	}
	if ks != nil {
		e.keys.Store(&ks)
	}
	// writeObject: a boolean (the principal follows), then the principal.
	ann := entrySlot(o).Annotation()
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

// Encode writes e as a SingleSignOnEntry: its principal, credentials and sessions.
func (Codec) Encode(v any) (any, error) {
	e, ok := v.(*Entry)
	if !ok {
		return nil, fmt.Errorf("sso: cannot encode %T", v)
	}
	if e == nil {
		return nil, fmt.Errorf("%w: nil *Entry", ErrBadEntry)
	}
	tv, err := jserial.Unmarshal(emptyEntry)
	if err != nil {
		return nil, err
	}
	o := tv.(*jserial.Object)
	if err := writeSessionKeys(o, e.sessionKeys()); err != nil {
		return nil, err
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
		sl.SetAnnotation([]any{jserial.BlockData{1}, e.other})
		return o, nil
	case e.Principal == nil:
		sl.SetAnnotation([]any{jserial.BlockData{0}})
		return o, nil
	}
	p, err := delta.PrincipalToJava(e.Principal)
	if err != nil {
		return nil, err
	}
	sl.SetAnnotation([]any{jserial.BlockData{1}, p})
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

// readSessionKeys reads the keys of the ConcurrentHashMap an entry keeps its sessions in
// (nil: none). Its writeObject writes each key and value (the same key object twice),
// then a null key and value.
func readSessionKeys(o *jserial.Object) ([]SessionKey, error) {
	if o == nil {
		return nil, nil
	}
	sl := hashMapSlot(o)
	if sl == nil {
		return nil, fmt.Errorf("%w: sessions in a %s", ErrBadEntry, o.Class.Name)
	}
	var keys []SessionKey
	seen := map[SessionKey]bool{}
	ann := sl.Annotation()
	for i := 0; i+1 < len(ann) && ann[i] != nil; i += 2 {
		if i/2 == MaxSessionKeys {
			return nil, fmt.Errorf("%w: more than %d sessions", ErrBadEntry, MaxSessionKeys)
		}
		ko, ok := ann[i].(*jserial.Object)
		if !ok || ko.Class == nil || ko.Class.Name != sessionKeyClass {
			return nil, fmt.Errorf("%w: session key %T", ErrBadEntry, ann[i])
		}
		f := jserial.Fields{Object: ko}
		k := SessionKey{ID: jserial.FieldAs[string](&f, "sessionId"),
			Context: jserial.FieldAs[string](&f, "contextName"), Host: jserial.FieldAs[string](&f, "hostName")}
		if f.Err != nil {
			return nil, fmt.Errorf("%w: session key: %w", ErrBadEntry, f.Err)
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// writeSessionKeys sets the sessions of o, an entry made from the template (whose map
// is empty), to keys: a copy of the template's map with each key written as key and
// value, as Java's map holds it.
func writeSessionKeys(o *jserial.Object, keys []SessionKey) error {
	if len(keys) == 0 {
		return nil
	}
	tm, _ := o.Field("sessionKeys")
	m, ok := tm.(*jserial.Object)
	if !ok || hashMapSlot(m) == nil {
		return fmt.Errorf("sso: the entry template has no session map")
	}
	c := *m
	c.Slots = slices.Clone(m.Slots)
	sl := hashMapSlot(&c)
	ann := make([]any, 0, 2*len(keys)+2)
	for _, k := range keys {
		ko, err := jserial.NewObject(sessionKeyDesc)
		if err != nil {
			return err
		}
		if err := errors.Join(ko.SetField("sessionId", k.ID), ko.SetField("contextName", k.Context),
			ko.SetField("hostName", k.Host)); err != nil {
			return err
		}
		ann = append(ann, ko, ko)
	}
	sl.SetAnnotation(append(ann, nil, nil))
	return o.SetField("sessionKeys", &c)
}

// hashMapSlot returns the class data of ConcurrentHashMap in o, nil if o is none.
func hashMapSlot(o *jserial.Object) *jserial.Slot {
	for i := range o.Slots {
		if o.Slots[i].Class.Name == hashMapClass {
			return &o.Slots[i]
		}
	}
	return nil
}
