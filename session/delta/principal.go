package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gotribes/tribes/jserial"
)

// Principal is the authenticated user of a session: Tomcat's GenericPrincipal with
// everything it serializes (as GenericPrincipal$SerializablePrincipal: name, roles,
// attributes and the wrapped user principal; the login context and GSS credential are
// transient in Tomcat too).
type Principal struct {
	Name  string
	Roles []string
	// Attributes are the attributes the realm gave the user (GenericPrincipal's
	// getAttribute), nil for none. Values are Go values as JavaValueCodec maps session
	// attribute values (string, int, int64, bool, []byte, time.Time, []any,
	// map[string]any, ...); an object of a class Go does not map is its jserial value
	// (*jserial.Object, ...), written back byte for byte.
	Attributes map[string]any
	// User is the user principal the realm wrapped (GenericPrincipal's
	// getUserPrincipal when it is another object): a *Principal for a GenericPrincipal,
	// the *jserial.Object of any other class, kept byte for byte; nil for none.
	User any

	// java is the SerializablePrincipal this principal was read from, kept when Go would
	// write other bytes (the attribute map's class, capacity and order, shared references),
	// and seen a copy of the fields as read. java is written back in the principal's place
	// while the fields still equal seen, so a principal relayed by Go keeps Tomcat's bytes.
	java *jserial.Object
	seen *Principal
}

// Attribute returns the attribute name of p, and whether p has it.
func (p *Principal) Attribute(name string) (any, bool) {
	if p == nil {
		return nil, false
	}
	v, ok := p.Attributes[name]
	return v, ok
}

// HasRole reports whether p has role r.
func (p *Principal) HasRole(r string) bool {
	if p == nil {
		return false
	}
	return slices.Contains(p.Roles, r)
}

// clone copies p, its roles, its attribute map and a wrapped *Principal; attribute
// values and an opaque user principal are shared.
func (p *Principal) clone() *Principal {
	if p == nil {
		return nil
	}
	c := *p
	c.Roles = slices.Clone(p.Roles)
	if p.Attributes != nil {
		c.Attributes = make(map[string]any, len(p.Attributes))
		for k, v := range p.Attributes {
			c.Attributes[k] = v
		}
	}
	if u, ok := p.User.(*Principal); ok {
		c.User = u.clone()
	}
	return &c
}

// equal reports whether p and q say the same (their Java forms aside).
func (p *Principal) equal(q *Principal) bool {
	if p.Name != q.Name || !slices.Equal(p.Roles, q.Roles) || (p.Attributes == nil) != (q.Attributes == nil) ||
		!sameValue(p.Attributes, q.Attributes) {
		return false
	}
	pu, ok1 := p.User.(*Principal)
	qu, ok2 := q.User.(*Principal)
	if ok1 && ok2 {
		return pu.equal(qu)
	}
	return !ok1 && !ok2 && sameValue(p.User, q.User)
}

// sameValue reports whether a and b are equal Go forms of Java values: deeply equal, or
// with the same Java serialization (a NaN equals itself there).
func sameValue(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := toJava(a, 0)
	jb, err2 := toJava(b, 0)
	if err1 != nil || err2 != nil {
		return false
	}
	ba, err1 := jserial.Marshal(ja)
	bb, err2 := jserial.Marshal(jb)
	return err1 == nil && err2 == nil && bytes.Equal(ba, bb)
}

// hasJava reports whether p needs its Java form to travel: it has attributes, a user
// principal or Tomcat's bytes to keep.
func (p *Principal) hasJava() bool { return p.Attributes != nil || p.User != nil || p.java != nil }

// EncodePrincipal returns the Value of an ActionPrincipal set: the name, the number of
// roles and each role (every string a uvarint length and its bytes), then, for a
// principal with attributes, a user principal or Tomcat's bytes to keep, the Java
// serialization stream of its SerializablePrincipal. A value with no Java form among
// them is an error wrapping ErrNoJavaForm.
func EncodePrincipal(p *Principal) ([]byte, error) { return appendPrincipal(nil, p) }

func appendPrincipal(b []byte, p *Principal) ([]byte, error) {
	b = appendString(b, p.Name)
	b = binary.AppendUvarint(b, uint64(len(p.Roles)))
	for _, r := range p.Roles {
		b = appendString(b, r)
	}
	if !p.hasJava() {
		return b, nil
	}
	return appendPrincipalJava(b, p)
}

func appendPrincipalJava(b []byte, p *Principal) ([]byte, error) {
	o, err := principalObject(p, 0)
	if err != nil {
		return nil, fmt.Errorf("delta: principal %q: %w", p.Name, err)
	}
	return jserial.MarshalAppend(b, o)
}

// DecodePrincipal parses EncodePrincipal's output; its name and roles are read with
// BinaryCodec's default MaxStringLen and MaxEntries, the Java stream in it with
// jserial's default limits (a Manager reads a principal action's with its cluster
// codec's: BinaryCodec's MaxStringLen, MaxEntries and Limits, or JavaCodec's Limits).
// Its errors wrap ErrMalformed.
func DecodePrincipal(b []byte) (*Principal, error) {
	return decodePrincipal(b, principalLimits{})
}

// principalLimits bound a principal's value (decodePrincipal): the length of its name
// and of each role (maxString), the number of its roles (maxEntries), its Java stream
// (java). Zero fields take the defaults: BinaryCodec's and jserial's.
type principalLimits struct {
	maxString, maxEntries int
	java                  jserial.DecoderConfig
}

// decodePrincipal is DecodePrincipal, read with limits.
func decodePrincipal(b []byte, limits principalLimits) (*Principal, error) {
	r := reader{b: b, maxString: orDefault(limits.maxString, maxStringDefault)}
	p := &Principal{Name: r.str()}
	n := r.count(1, 0, orDefault(limits.maxEntries, DefaultMaxEntries))
	for i := 0; i < n && r.err == nil; i++ {
		p.Roles = append(p.Roles, r.str())
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: bad principal: %w", ErrMalformed, r.err)
	}
	if len(r.b) == 0 {
		return p, nil
	}
	return withJava(p, r.b, limits.java)
}

// withJava returns the principal of stream, the Java form of p (name and roles read
// before it), read with limits. Its errors wrap ErrMalformed.
func withJava(p *Principal, stream []byte, limits jserial.DecoderConfig) (*Principal, error) {
	q, err := javaPrincipal(p, stream, limits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return q, nil
}

// javaPrincipal is withJava, its errors not wrapping ErrMalformed (a decoder wraps
// them).
func javaPrincipal(p *Principal, stream []byte, limits jserial.DecoderConfig) (*Principal, error) {
	if !bytes.HasPrefix(stream, streamMagic) {
		return nil, errors.New("bad principal: trailing bytes")
	}
	v, err := jserial.UnmarshalConfig(stream, limits)
	if err != nil {
		return nil, fmt.Errorf("bad principal: %w", err)
	}
	q, err := goPrincipal(v, nil)
	if err != nil {
		return nil, fmt.Errorf("bad principal: %w", err)
	}
	if q.Name != p.Name || !slices.Equal(q.Roles, p.Roles) {
		return nil, fmt.Errorf("bad principal: Java form of %q does not match its name and roles", p.Name)
	}
	return q, nil
}

// Tomcat writes a GenericPrincipal's attributes as an unmodifiable view of the realm's
// map.
var unmodifiableMapDesc = &jserial.ClassDesc{Name: "java.util.Collections$UnmodifiableMap",
	SUID: -1034234728574286014, Flags: jserial.SCSerializable,
	Fields: []jserial.Field{{Type: 'L', Name: "m", Signature: "Ljava/util/Map;"}}}

// goPrincipal reads a SerializablePrincipal, keeping it when Go would write other bytes;
// the streams it writes to compare them are taken from b (nil: unbounded).
func goPrincipal(v any, b *budget) (*Principal, error) {
	p, err := viewPrincipal(v, 0)
	if err != nil {
		return nil, err
	}
	o := v.(*jserial.Object)
	same, err := goWritesSame(p, o, b)
	if err != nil {
		return nil, err
	}
	if !same {
		// A second view shares no list, set or map with p: a change to p in place shows.
		p.java = o
		p.seen, _ = viewPrincipal(o, 0)
	}
	return p, nil
}

// viewPrincipal maps a SerializablePrincipal to Go; depth counts the wrapping principals.
func viewPrincipal(v any, depth int) (*Principal, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class.Name != principalClass {
		return nil, fmt.Errorf("principal of class %s, want GenericPrincipal", className(v))
	}
	if depth > maxValueDepth {
		return nil, fmt.Errorf("principals nested deeper than %d", maxValueDepth)
	}
	f := jserial.Fields{Object: o}
	name := f.Get("name")
	roles := jserial.FieldAs[*jserial.Array](&f, "roles")
	attrs := f.Get("attributes")
	user := f.Get("principal")
	if f.Err != nil {
		return nil, f.Err
	}
	p := &Principal{}
	if p.Name, ok = name.(string); !ok {
		return nil, errors.New("principal without a name")
	}
	if roles != nil {
		for _, r := range roles.Elems {
			s, ok := r.(string)
			if !ok {
				return nil, errors.New("principal role is not a String")
			}
			p.Roles = append(p.Roles, s)
		}
	}
	var err error
	if p.Attributes, err = principalAttributes(attrs); err != nil {
		return nil, err
	}
	switch u := user.(type) {
	case nil:
	case *jserial.Object:
		if u.Class.Name != principalClass {
			p.User = u
		} else if p.User, err = viewPrincipal(u, depth+1); err != nil {
			return nil, fmt.Errorf("user principal: %w", err)
		}
	default:
		return nil, fmt.Errorf("user principal is a %T", user)
	}
	return p, nil
}

// goWritesSame reports whether Go writes o, the SerializablePrincipal p was read from,
// from p's fields alone. A principal without attributes and user principal travels in
// Go's form without its Java stream, so its strings are compared as separate copies.
// The two streams it writes are taken from b; the error is b's only.
func goWritesSame(p *Principal, o *jserial.Object, b *budget) (bool, error) {
	q := &Principal{Name: p.Name, Roles: p.Roles, Attributes: p.Attributes, User: p.User}
	if !q.hasJava() {
		q.Name = strings.Clone(p.Name)
		q.Roles = make([]string, len(p.Roles))
		for i, r := range p.Roles {
			q.Roles[i] = strings.Clone(r)
		}
	}
	built, err1 := principalObject(q, 0)
	mine, err2 := jserial.MarshalAppend(b.scratch(0), built)
	if err := b.compared(mine, 0); err != nil {
		return false, err
	}
	theirs, err3 := jserial.MarshalAppend(b.scratch(1), o)
	if err := b.compared(theirs, 1); err != nil {
		return false, err
	}
	return errors.Join(err1, err2, err3) == nil && bytes.Equal(mine, theirs), nil
}

// principalAttributes maps GenericPrincipal's attributes field to Go.
func principalAttributes(v any) (map[string]any, error) {
	if o, ok := v.(*jserial.Object); ok && o.Class.Name == unmodifiableMapDesc.Name {
		v, _ = o.Field("m")
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(*jserial.Map)
	if !ok {
		return nil, fmt.Errorf("principal attributes of class %s, want a Map", className(v))
	}
	out := make(map[string]any, len(m.Entries))
	var conv javaConv // one for every attribute: they may share values
	for _, e := range m.Entries {
		k, ok := e.Key.(string)
		if !ok {
			return nil, fmt.Errorf("principal attribute name is a %T, want a String", e.Key)
		}
		gv, err := conv.fromJava(e.Value, 1)
		if err != nil {
			return nil, fmt.Errorf("principal attribute %q: %w", k, err)
		}
		out[k] = gv
	}
	return out, nil
}

// principalObject returns the SerializablePrincipal Tomcat reads as p: the one p was
// read from while p still says what it says; depth counts the wrapping principals.
func principalObject(p *Principal, depth int) (*jserial.Object, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("%w: principals nested deeper than %d", ErrNoJavaForm, maxValueDepth)
	}
	if p.java != nil && p.seen != nil && p.equal(p.seen) {
		return p.java, nil
	}
	roles := make([]any, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = r
	}
	var attrs, user any
	if p.Attributes != nil {
		m, err := toJava(p.Attributes, 0)
		if err != nil {
			return nil, err
		}
		attrs = &jserial.Object{Class: unmodifiableMapDesc, Slots: []jserial.Slot{{Class: unmodifiableMapDesc, Values: []any{m}}}}
	}
	switch u := p.User.(type) {
	case nil:
	case *Principal:
		var err error
		if user, err = principalObject(u, depth+1); err != nil {
			return nil, err
		}
	case *jserial.Object:
		user = u
	default:
		return nil, fmt.Errorf("%w: user principal %T (want a *Principal or a *jserial.Object)", ErrNoJavaForm, p.User)
	}
	return &jserial.Object{Class: principalDesc, Slots: []jserial.Slot{{Class: principalDesc,
		Values: []any{attrs, p.Name, user, &jserial.Array{Class: stringArrayDesc, Elems: roles}}}}}, nil
}

// PrincipalFromJava returns the principal a decoded GenericPrincipal$SerializablePrincipal
// (the form Tomcat serializes a GenericPrincipal in) holds, for a principal found in
// another Java object than a session (Tomcat's single sign-on entries carry one).
// Unchanged, it is written back with Tomcat's bytes (PrincipalToJava).
func PrincipalFromJava(v any) (*Principal, error) {
	p, err := goPrincipal(v, nil)
	if err != nil {
		return nil, fmt.Errorf("delta: %w", err)
	}
	return p, nil
}

// PrincipalToJava returns the SerializablePrincipal object Tomcat reads as p, for
// jserial to write. A principal whose attributes or user principal have no Java form is
// an error wrapping ErrNoJavaForm.
func PrincipalToJava(p *Principal) (*jserial.Object, error) {
	o, err := principalObject(p, 0)
	if err != nil {
		return nil, fmt.Errorf("delta: principal %q: %w", p.Name, err)
	}
	return o, nil
}

// javaLimits are the limits the cluster's codec reads Java serialization streams with
// (JavaCodec's or BinaryCodec's Limits), for those a Manager decodes on its own: a
// principal action's (Session.apply). Another codec sets none: jserial's defaults.
func (c *Cluster) javaLimits() jserial.DecoderConfig {
	switch jc := c.codec.(type) {
	case JavaCodec:
		return jc.Limits
	case *JavaCodec:
		if jc != nil {
			return jc.Limits
		}
	case BinaryCodec:
		return jc.Limits
	case *BinaryCodec:
		if jc != nil {
			return jc.Limits
		}
	}
	return jserial.DecoderConfig{}
}

// principalLimits are the limits a Manager reads a principal action's value with
// (Session.apply): BinaryCodec's MaxStringLen and MaxEntries, as it reads the principal
// of a session of a state transfer, and the Java stream's javaLimits. Another codec
// (JavaCodec, which writes a principal's name and roles in its Java stream) leaves the
// name and roles to the defaults.
func (c *Cluster) principalLimits() principalLimits {
	l := principalLimits{java: c.javaLimits()}
	switch bc := c.codec.(type) {
	case BinaryCodec:
		l.maxString, l.maxEntries = bc.maxString(), bc.maxEntries()
	case *BinaryCodec:
		if bc != nil {
			l.maxString, l.maxEntries = bc.maxString(), bc.maxEntries()
		}
	}
	return l
}

// isJava reports whether the cluster's codec is JavaCodec.
func (c *Cluster) isJava() bool {
	switch c.codec.(type) {
	case JavaCodec, *JavaCodec:
		return true
	}
	return false
}
