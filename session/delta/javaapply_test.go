package delta_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestJavaCodecSharedValues checks that JavaCodec decodes a DeltaRequest whose attribute
// actions all refer to one value into about the message's size. The manager applying it
// must not copy the value once per attribute either: it used to (Session.apply:
// bytes.Clone(a.Value)), so a Tomcat peer's 265 KB EVT_SESSION_DELTA of 256 attributes
// sharing one 256 KiB byte[] made the node allocate, and keep in the session, 64 MiB.
// JavaCodec's values are its own (Message.ownValues): the session keeps them as they are.
func TestJavaDeltaSharedValueApplied(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	app, _, _ := startJavaNode(t, nw, "go1")
	_, peer := newChannel(t, nw)
	to := peer.Members()
	if len(to) != 1 {
		t.Fatalf("the peer sees %d members, want the Go node", len(to))
	}
	const n = 256
	v := make([]byte, 256<<10)
	for i := range v {
		v[i] = byte(i)
	}
	payload, err := delta.SharedAttributesDelta("SHARED1", n, v)
	if err != nil {
		t.Fatal(err)
	}
	name := appName
	data, err := delta.TomcatMessage(delta.EventDelta, &name, "SHARED1", payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 300<<10 {
		t.Fatalf("the message is %d bytes: the value was not shared", len(data))
	}
	alloc := testutil.Allocated(func() {
		// Synchronous ACK: the Go node has applied the delta when SendMessage returns.
		err = peer.SendMessage(ctx, to, &channel.Message{Data: data, Options: channel.OptUseAck | channel.OptSyncAck})
	})
	if err != nil {
		t.Fatal(err)
	}
	s := app.Find("SHARED1")
	if s == nil {
		t.Fatal("the delta did not create the session")
	}
	if limit := uint64(8*len(data) + 2<<20); alloc > limit {
		t.Errorf("a %d-byte EVT_SESSION_DELTA of %d attributes sharing one value: %d bytes allocated to apply it, want at most %d",
			len(data), n, alloc, limit)
	}
}

// The same for principal actions: JavaCodec encodes a principal object the DeltaRequest
// refers to many times once (javaRefs.encoded), and Session.apply must not decode each
// action's value anew (DecodePrincipal: the Java stream unmarshalled, then goPrincipal
// re-marshals it to compare it with Go's form): 256 actions naming one principal whose
// user principal holds 256 KiB cost hundreds of MiB. Only the last principal action is
// decoded, the earlier ones being overwritten.
func TestJavaDeltaSharedPrincipalApplied(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	app, _, _ := startJavaNode(t, nw, "go1")
	_, peer := newChannel(t, nw)
	to := peer.Members()
	if len(to) != 1 {
		t.Fatalf("the peer sees %d members, want the Go node", len(to))
	}
	desc := &jserial.ClassDesc{Name: "com.example.RealmUser", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: '[', Name: "blob", Signature: "[B"}}}
	u, err := jserial.NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.SetField("blob", make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	const n = 256
	payload, err := delta.SharedPrincipalDelta("SHARED2", n, u)
	if err != nil {
		t.Fatal(err)
	}
	name := appName
	data, err := delta.TomcatMessage(delta.EventDelta, &name, "SHARED2", payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 300<<10 {
		t.Fatalf("the message is %d bytes: the principal was not shared", len(data))
	}
	alloc := testutil.Allocated(func() {
		err = peer.SendMessage(ctx, to, &channel.Message{Data: data, Options: channel.OptUseAck | channel.OptSyncAck})
	})
	if err != nil {
		t.Fatal(err)
	}
	s := app.Find("SHARED2")
	if s == nil {
		t.Fatal("the delta did not create the session")
	}
	if p := s.Principal(); p == nil || p.Name != "alice" {
		t.Fatalf("principal %+v", p)
	}
	if limit := uint64(8*len(data) + 2<<20); alloc > limit {
		t.Errorf("a %d-byte EVT_SESSION_DELTA of %d principal actions naming one principal: %d bytes allocated to apply it, want at most %d",
			len(data), n, alloc, limit)
	}
}

// The same for notes and the auth type, which a session holds as strings: a message
// whose note and auth type actions all name one String must not make the node convert
// it once per action.
func TestJavaDeltaSharedNoteApplied(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	app, _, _ := startJavaNode(t, nw, "go1")
	_, peer := newChannel(t, nw)
	to := peer.Members()
	if len(to) != 1 {
		t.Fatalf("the peer sees %d members, want the Go node", len(to))
	}
	const n = 256
	big := strings.Repeat("x", 256<<10)
	payload, err := delta.SharedNotesDelta("SHARED3", n, big)
	if err != nil {
		t.Fatal(err)
	}
	name := appName
	data, err := delta.TomcatMessage(delta.EventDelta, &name, "SHARED3", payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 300<<10 {
		t.Fatalf("the message is %d bytes: the String was not shared", len(data))
	}
	alloc := testutil.Allocated(func() {
		err = peer.SendMessage(ctx, to, &channel.Message{Data: data, Options: channel.OptUseAck | channel.OptSyncAck})
	})
	if err != nil {
		t.Fatal(err)
	}
	s := app.Find("SHARED3")
	if s == nil {
		t.Fatal("the delta did not create the session")
	}
	if v, ok := s.Note("n255"); !ok || v != big || s.AuthType() != big {
		t.Fatalf("note n255 (%v) or the auth type is not the String", ok)
	}
	if limit := uint64(8*len(data) + 2<<20); alloc > limit {
		t.Errorf("a %d-byte EVT_SESSION_DELTA of %d notes and an auth type sharing one String: %d bytes allocated to apply it, want at most %d",
			len(data), n, alloc, limit)
	}
}

// Of several principal actions in one delta, the last one holds, a removal included.
func TestJavaDeltaLastPrincipalHolds(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	app, _, _ := startJavaNode(t, nw, "go1")
	_, peer := newChannel(t, nw)
	to := peer.Members()
	if len(to) != 1 {
		t.Fatalf("the peer sees %d members, want the Go node", len(to))
	}
	set := func(name string) delta.Action {
		v, err := delta.EncodePrincipal(&delta.Principal{Name: name, Roles: []string{"r"}})
		if err != nil {
			t.Fatal(err)
		}
		return delta.Action{Type: delta.ActionPrincipal, Op: delta.OpSet, Name: "__SET__PRINCIPAL__", Value: v}
	}
	remove := delta.Action{Type: delta.ActionPrincipal, Op: delta.OpRemove, Name: "__SET__PRINCIPAL__"}
	isNew := delta.Action{Type: delta.ActionIsNew, Op: delta.OpSet, Name: "__SET__ISNEW__", Value: []byte{1}}
	name := appName
	for _, tc := range []struct {
		id      string
		actions []delta.Action
		want    string // "" for none
	}{
		{"LAST1", []delta.Action{isNew, set("alice"), set("bob")}, "bob"},
		{"LAST2", []delta.Action{isNew, set("alice"), remove}, ""},
		{"LAST3", []delta.Action{isNew, remove, set("carol")}, "carol"},
	} {
		payload, err := delta.TomcatDeltaPayload(tc.id, tc.actions)
		if err != nil {
			t.Fatal(err)
		}
		data, err := delta.TomcatMessage(delta.EventDelta, &name, tc.id, payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.SendMessage(ctx, to, &channel.Message{Data: data, Options: channel.OptUseAck | channel.OptSyncAck}); err != nil {
			t.Fatal(err)
		}
		s := app.Find(tc.id)
		if s == nil {
			t.Fatalf("%s: the delta did not create the session", tc.id)
		}
		got := ""
		if p := s.Principal(); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("%s: principal %q, want %q", tc.id, got, tc.want)
		}
	}
}
