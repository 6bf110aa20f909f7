package delta

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// checkGoldenPrincipal checks a principal SessionGolden.withAttributes made for name.
func checkGoldenPrincipal(t *testing.T, p *Principal, name string) {
	t.Helper()
	if p == nil || p.Name != name || !slices.Equal(p.Roles, []string{"admin", "user"}) {
		t.Fatalf("principal %+v", p)
	}
	want := map[string]any{"mail": name + "@example.com", "cn": name, "uid": 1000, "groups": []any{"staff", "dev"},
		"nested": map[string]any{"k": "v", "n": int64(7), "zz": true}, "photo": []byte{9, 8, 7}}
	for k, w := range want {
		if v, ok := p.Attribute(k); !ok || !reflect.DeepEqual(v, w) {
			t.Errorf("attribute %s = %#v, want %#v", k, v, w)
		}
	}
	if len(p.Attributes) != len(want)+1 {
		t.Errorf("%d attributes: %v", len(p.Attributes), p.Attributes)
	}
	if cart, ok := p.Attributes["cart"].(*jserial.Object); !ok || cart.Class.Name != "SessionGolden$Cart" {
		t.Errorf("cart = %#v", p.Attributes["cart"])
	}
}

func checkGoldenDeltaPrincipal(t *testing.T, m *Message) {
	if len(m.Actions) != 1 || m.Actions[0].Type != ActionPrincipal || m.Actions[0].Op != OpSet {
		t.Fatalf("actions %+v", m.Actions)
	}
	p, err := DecodePrincipal(m.Actions[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	checkGoldenPrincipal(t, p, "alice")
	u, ok := p.User.(*jserial.Object)
	if !ok || u.Class.Name != "SessionGolden$User" {
		t.Fatalf("user principal %#v", p.User)
	}
	if n, _ := u.Field("name"); n != "alice@EXAMPLE.COM" {
		t.Errorf("user principal's name %v", n)
	}
}

func checkGoldenSessionPrincipals(t *testing.T, m *Message) {
	if len(m.Sessions) != 2 || m.Sessions[0].ID != "C1.node1" || m.Sessions[1].ID != "E1.node1" {
		t.Fatalf("sessions %+v", m.Sessions)
	}
	c := m.Sessions[0].Principal
	checkGoldenPrincipal(t, c, "carol")
	if u, ok := c.User.(*Principal); !ok || u.Name != "carol-inner" || !slices.Equal(u.Roles, []string{"inner"}) ||
		u.Attributes != nil || u.User != nil {
		t.Errorf("user principal %#v", c.User)
	}
	e := m.Sessions[1].Principal
	checkGoldenPrincipal(t, e, "erin")
	if e.User != nil {
		t.Errorf("user principal %#v", e.User)
	}
}

// TestPrincipalThroughGoCodec relays Tomcat's principals through BinaryCodec, as Go
// nodes do between them, and writes Tomcat's bytes again: the whole delta, and each
// principal of a state transfer (the class descriptors two principals of one message
// share are written again for the second one once they travelled apart).
func TestPrincipalThroughGoCodec(t *testing.T) {
	var jc JavaCodec
	var bc BinaryCodec
	relay := func(golden []byte) (tomcat, relayed *Message) {
		tomcat, err := jc.DecodeMessage(golden)
		if err != nil {
			t.Fatal(err)
		}
		b, err := bc.AppendMessage(nil, tomcat)
		if err != nil {
			t.Fatal(err)
		}
		if relayed, err = bc.DecodeMessage(b); err != nil {
			t.Fatal(err)
		}
		return tomcat, relayed
	}
	golden := readGolden(t, "delta_principal")
	_, m := relay(golden)
	if out, err := jc.AppendMessage(nil, m); err != nil || !bytes.Equal(out, golden) {
		t.Errorf("relayed delta differs from Tomcat's (%v)", err)
	}
	tomcat, m := relay(readGolden(t, "all_sessions_principal"))
	for i, s := range m.Sessions {
		want := javaPrincipalBytes(t, tomcat.Sessions[i].Principal)
		if got := javaPrincipalBytes(t, s.Principal.clone()); !bytes.Equal(got, want) {
			t.Errorf("session %s: relayed principal differs from Tomcat's:\n got %x\nwant %x", s.ID, got, want)
		}
	}
}

// javaPrincipalBytes is the stream of what JavaCodec writes for p.
func javaPrincipalBytes(t *testing.T, p *Principal) []byte {
	t.Helper()
	o, err := principalObject(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return mustMarshal(t, o)
}

// TestPrincipalChanges checks that a changed principal is written with its change, and
// that Go's principals survive both codecs.
func TestPrincipalChanges(t *testing.T) {
	m, err := JavaCodec{}.DecodeMessage(readGolden(t, "all_sessions_principal"))
	if err != nil {
		t.Fatal(err)
	}
	// Changed in place, a list and a map of the attributes are written with the change.
	inPlace := m.Sessions[1].Principal.clone()
	inPlace.Attributes["groups"].([]any)[0] = "ops"
	inPlace.Attributes["nested"].(map[string]any)["k"] = "w"
	b, err := EncodePrincipal(inPlace)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePrincipal(b)
	if err != nil || !reflect.DeepEqual(got.Attributes["groups"], []any{"ops", "dev"}) ||
		got.Attributes["nested"].(map[string]any)["k"] != "w" {
		t.Errorf("changed in place, read back as %+v, %v", got, err)
	}

	p := m.Sessions[0].Principal.clone()
	p.Attributes["mail"] = "new@example.com"
	p.User.(*Principal).Roles = append(p.User.(*Principal).Roles, "more")
	if m.Sessions[0].Principal.Attributes["mail"] != "carol@example.com" {
		t.Fatal("clone shares the attribute map")
	}
	if b, err = EncodePrincipal(p); err != nil {
		t.Fatal(err)
	}
	if got, err = DecodePrincipal(b); err != nil {
		t.Fatal(err)
	}
	if got.Attributes["mail"] != "new@example.com" || !got.User.(*Principal).HasRole("more") ||
		got.Attributes["uid"] != 1000 {
		t.Errorf("changed principal read back as %+v (user %+v)", got, got.User)
	}

	goMade := &Principal{Name: "dave", Roles: []string{"r"}, Attributes: map[string]any{"n": 3, "l": []any{"a"}},
		User: &Principal{Name: "dave@REALM", Attributes: map[string]any{}}}
	b, err = EncodePrincipal(goMade)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = DecodePrincipal(b); err != nil || !reflect.DeepEqual(got, goMade) {
		t.Errorf("Go principal read back as %+v, %v", got, err)
	}
	msg := &Message{Event: EventDelta, SessionID: "S", Actions: []Action{{Type: ActionPrincipal, Op: OpSet,
		Name: namePrincipal, Value: b}}}
	jb, err := JavaCodec{}.AppendMessage(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := JavaCodec{}.DecodeMessage(jb)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = DecodePrincipal(back.Actions[0].Value); err != nil || !reflect.DeepEqual(got, goMade) {
		t.Errorf("Go principal through JavaCodec read back as %+v, %v", got, err)
	}
}

func TestPrincipalRefused(t *testing.T) {
	cyclic := &Principal{Name: "c"}
	cyclic.User = cyclic
	for name, p := range map[string]*Principal{
		"attribute":  {Name: "a", Attributes: map[string]any{"u": uint(1)}},
		"user":       {Name: "a", User: "not a principal"},
		"cyclic":     cyclic,
		"int range":  {Name: "a", Attributes: map[string]any{"big": 1 << 40}},
		"nested bad": {Name: "a", User: &Principal{Name: "b", Attributes: map[string]any{"s": struct{}{}}}},
	} {
		if _, err := EncodePrincipal(p); !errors.Is(err, ErrNoJavaForm) {
			t.Errorf("%s: %v", name, err)
		}
	}
	s := &Session{valid: true}
	if err := s.SetPrincipal(cyclic); !errors.Is(err, ErrNoJavaForm) || s.principal != nil {
		t.Errorf("SetPrincipal of a cyclic principal: %v, stored %v", err, s.principal != nil)
	}
}

// principalJava builds a SerializablePrincipal with the given field values.
func principalJava(attrs any, name any, user any, roles any) *jserial.Object {
	return &jserial.Object{Class: principalDesc, Slots: []jserial.Slot{{Class: principalDesc,
		Values: []any{attrs, name, user, roles}}}}
}

// TestPrincipalMalformed feeds principals Tomcat never writes to the decoder.
func TestPrincipalMalformed(t *testing.T) {
	roles := &jserial.Array{Class: stringArrayDesc, Elems: []any{"r"}}
	deep := principalJava(nil, "p", nil, roles)
	for range maxValueDepth + 1 {
		deep = principalJava(nil, "p", deep, roles)
	}
	intKey := &jserial.Map{Class: jserial.HashMap, Entries: []jserial.Entry{{Key: int32(1), Value: "v"}}}
	for name, tc := range map[string]struct {
		v    any
		want string
	}{
		"not a principal": {"alice", "want GenericPrincipal"},
		"no name":         {principalJava(nil, nil, nil, roles), "without a name"},
		"role not String": {principalJava(nil, "p", nil, &jserial.Array{Class: stringArrayDesc, Elems: []any{int32(1)}}), "role"},
		"attributes":      {principalJava("map", "p", nil, roles), "want a Map"},
		"attribute key":   {principalJava(intKey, "p", nil, roles), "attribute name"},
		"user not object": {principalJava(nil, "p", "user", roles), "user principal"},
		"user malformed":  {principalJava(nil, "p", principalJava(nil, int32(1), nil, roles), roles), "user principal"},
		"nested too deep": {deep, "deeper"},
		"roles not array": {principalJava(nil, "p", nil, "r"), "roles"},
		"wrapped not map": {principalJava(&jserial.Object{Class: unmodifiableMapDesc, Slots: []jserial.Slot{{Class: unmodifiableMapDesc, Values: []any{"x"}}}}, "p", nil, roles), "want a Map"},
	} {
		if _, err := goPrincipal(tc.v, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}

	good, err := EncodePrincipal(&Principal{Name: "p", Attributes: map[string]any{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := EncodePrincipal(&Principal{Name: "q", Attributes: map[string]any{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	java := other[bytes.Index(other, streamMagic):]
	for name, b := range map[string][]byte{
		"trailing":    append(EncodePlain(t, "p"), 1, 2),
		"truncated":   good[:len(good)-1],
		"not Java's":  append(EncodePlain(t, "p"), streamMagic[0], streamMagic[1], streamMagic[2], streamMagic[3], 0x70),
		"mismatch":    append(EncodePlain(t, "p"), java...),
		"not a class": append(EncodePlain(t, "p"), mustMarshal(t, "text")...),
	} {
		if _, err := DecodePrincipal(b); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "bad principal") {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}

	// The codec's limits bound the principal's stream like any other.
	c := JavaCodec{Limits: jserial.DecoderConfig{MaxDepth: 3}}
	if _, err := c.DecodeMessage(readGolden(t, "delta_principal")); !errors.Is(err, ErrMalformed) ||
		!errors.Is(err, jserial.ErrLimit) {
		t.Errorf("depth limit: %v", err)
	}
}

// EncodePlain is EncodePrincipal of a principal with a name only.
func EncodePlain(t *testing.T, name string) []byte {
	t.Helper()
	b, err := EncodePrincipal(&Principal{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := jserial.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzDecodePrincipal(f *testing.F) {
	m, err := JavaCodec{}.DecodeMessage(readGolden(f, "delta_principal"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Actions[0].Value)
	for _, p := range []*Principal{
		{Name: "plain", Roles: []string{"a", "b"}},
		{Name: "go", Attributes: map[string]any{"n": 1, "l": []any{"x", int64(2)}}, User: &Principal{Name: "u"}},
	} {
		b, err := EncodePrincipal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePrincipal(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "bad principal: ") {
				t.Fatalf("unclear error %v", err)
			}
			return
		}
		b, err := EncodePrincipal(p)
		if err != nil {
			t.Fatalf("re-encoding a decoded principal: %v", err)
		}
		q, err := DecodePrincipal(b)
		if err != nil {
			t.Fatalf("decoding a re-encoded principal: %v", err)
		}
		if b2, err := EncodePrincipal(q); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("second round differs (%v)", err)
		}
	})
}
