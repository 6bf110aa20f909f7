package delta

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
)

// shopClasses are the application classes of a web shop's sessions: an abstract
// BaseEntity { long id; long version; String createdBy } and its subclasses Cart
// { java.util.Date created; List items; String owner } (an ArrayList of Item { long
// priceCents; int qty; String sku }) and UserProfile { boolean newsletter; String
// displayName; String email }. heavy is a shop whose values take more than twice as
// many bytes beyond the message (their descriptors): longer package names, Item a
// BaseEntity too, a PostalAddress { String city, countryCode, postalCode, streetLine1,
// streetLine2 } in Cart and UserProfile, and more fields besides.
type shopClasses struct {
	heavy                           bool
	base, cart, item, profile, addr *jserial.ClassDesc
}

func newShopClasses(heavy bool) *shopClasses {
	pkg := "com.example"
	if heavy {
		pkg = "com.example.commerce.storefront.domain.model"
	}
	str := func(name string) jserial.Field {
		return jserial.Field{Type: 'L', Name: name, Signature: "Ljava/lang/String;"}
	}
	c := &shopClasses{heavy: heavy}
	c.base = &jserial.ClassDesc{Name: pkg + ".BaseEntity", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'J', Name: "id"}, {Type: 'J', Name: "version"}, str("createdBy")}}
	c.item = &jserial.ClassDesc{Name: pkg + ".shop.Item", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'J', Name: "priceCents"}, {Type: 'I', Name: "qty"}, str("sku")}}
	c.cart = &jserial.ClassDesc{Name: pkg + ".shop.Cart", SUID: 1, Flags: jserial.SCSerializable, Super: c.base,
		Fields: []jserial.Field{{Type: 'L', Name: "created", Signature: "Ljava/util/Date;"},
			{Type: 'L', Name: "items", Signature: "Ljava/util/List;"}, str("owner")}}
	c.profile = &jserial.ClassDesc{Name: pkg + ".account.UserProfile", SUID: 1, Flags: jserial.SCSerializable, Super: c.base,
		Fields: []jserial.Field{{Type: 'Z', Name: "newsletter"}, str("displayName"), str("email")}}
	if heavy {
		c.addr = &jserial.ClassDesc{Name: pkg + ".common.PostalAddress", SUID: 1, Flags: jserial.SCSerializable,
			Fields: []jserial.Field{str("city"), str("countryCode"), str("postalCode"), str("streetLine1"), str("streetLine2")}}
		addrField := jserial.Field{Type: 'L', Name: "shippingAddress", Signature: "L" + pkgPath(c.addr.Name) + ";"}
		c.item.Super = c.base
		c.item.Fields = append(c.item.Fields, str("productTitle"), str("warehouseLocation"))
		c.cart.Fields = append(c.cart.Fields, str("couponCode"), str("currencyCode"), addrField)
		c.profile.Fields = append(c.profile.Fields, jserial.Field{Type: 'L', Name: "lastLogin", Signature: "Ljava/util/Date;"},
			str("preferredLocale"), addrField)
	}
	return c
}

// pkgPath is a class name as a field signature writes it.
func pkgPath(class string) string {
	b := []byte(class)
	for i, c := range b {
		if c == '.' {
			b[i] = '/'
		}
	}
	return string(b)
}

func (c *shopClasses) object(t *testing.T, d *jserial.ClassDesc, fields map[string]any) *jserial.Object {
	t.Helper()
	o, err := jserial.NewObject(d)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if err := o.SetField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func (c *shopClasses) address(t *testing.T, i int) *jserial.Object {
	return c.object(t, c.addr, map[string]any{"city": "Springfield", "countryCode": "US",
		"postalCode": fmt.Sprint(10000 + i), "streetLine1": fmt.Sprint(i, " Main St")})
}

// session returns session i's attributes: a cart of 2 or 3 items, a user profile, a CSRF
// token and, for every other session, a list of recently viewed SKUs.
func (c *shopClasses) session(t *testing.T, i int) []namedObject {
	t.Helper()
	owner := fmt.Sprint("user", i)
	base := func(id int) map[string]any {
		return map[string]any{"id": int64(id), "version": int64(i % 7), "createdBy": owner}
	}
	var items []any
	for k := range 2 + i%2 {
		f := map[string]any{"priceCents": int64(999 + k*100), "qty": int32(1 + k), "sku": fmt.Sprintf("SKU-%05d", (i*3+k)%5000)}
		if c.heavy {
			for key, v := range base(i*10 + k) {
				f[key] = v
			}
			f["productTitle"] = fmt.Sprint("Product ", k)
			f["warehouseLocation"] = "EU-1"
		}
		items = append(items, c.object(t, c.item, f))
	}
	cart := base(i)
	cart["created"] = time.UnixMilli(1700000000000 + int64(i)).UTC()
	cart["items"] = items
	cart["owner"] = owner
	profile := base(100000 + i)
	profile["newsletter"] = i%3 == 0
	profile["displayName"] = fmt.Sprint("User ", i)
	profile["email"] = fmt.Sprintf("user%d@example.com", i)
	if c.heavy {
		cart["couponCode"] = "WELCOME10"
		cart["currencyCode"] = "EUR"
		cart["shippingAddress"] = c.address(t, i)
		profile["lastLogin"] = time.UnixMilli(1700000000000 - int64(i)).UTC()
		profile["preferredLocale"] = "en_US"
		profile["shippingAddress"] = c.address(t, i)
	}
	values := []namedObject{
		{"shoppingCart", c.object(t, c.cart, cart)},
		{"userProfile", c.object(t, c.profile, profile)},
		{"csrfToken", fmt.Sprintf("%032x", i*7919)},
	}
	if i%2 == 0 {
		values = append(values, namedObject{"recentlyViewed", []any{fmt.Sprintf("SKU-%05d", i%5000), fmt.Sprintf("SKU-%05d", (i+1)%5000)}})
	}
	return values
}

type namedObject struct {
	name string
	v    any
}

// shopState returns Tomcat's EVT_ALL_SESSION_DATA of n shop sessions (DeltaManager sends
// 1000 a chunk): each with 3 or 4 attributes and a GenericPrincipal, session 0 without a
// principal. It is written as DeltaManager does, every session into one
// ObjectOutputStream (DeltaSession.writeObjectData), so that each class descriptor is
// written once and referred back to after: JavaCodec.AppendMessage writes each value
// from its own stream, with its descriptors again.
func shopState(t *testing.T, n int, kind shopKind) []byte {
	t.Helper()
	c := newShopClasses(kind == shopHeavy || kind == shopHeavySpring)
	var sec *springSecurity
	if kind == shopSpring || kind == shopHeavySpring {
		sec = newSpringSecurity()
	}
	var w jserial.DataWriter
	w.WriteObject(int32(n))
	for i := range n {
		for _, x := range []any{int64(1700000000000), int64(1700000000000), int32(1800), false, true, int64(1700000000000), int64(0)} {
			w.WriteObject(x)
		}
		w.WriteBool(i > 0)
		if i > 0 {
			p, err := principalObject(&Principal{Name: fmt.Sprint("user", i), Roles: []string{"customer"}}, 0)
			if err != nil {
				t.Fatal(err)
			}
			w.WriteObject(p)
		}
		w.WriteObject(fmt.Sprintf("%032X", i))
		w.WriteObject(nil) // SESSION_ID_NOTE
		w.WriteObject(nil) // FORM_REQUEST_NOTE
		attrs := c.session(t, i)
		if kind == smallValues {
			attrs = smallSessionValues(t, i)
		}
		if sec != nil {
			attrs = append(attrs, namedObject{"SPRING_SECURITY_CONTEXT", sec.context(t, i)},
				namedObject{"org.springframework.web.servlet.i18n.SessionLocaleResolver.LOCALE", sec.locale})
		}
		w.WriteObject(int32(len(attrs)))
		for _, a := range attrs {
			w.WriteObject(a.name)
			w.WriteObject(a.v)
		}
		w.WriteObject(int32(0)) // listeners
	}
	payload, err := marshalContents(w.Contents())
	if err != nil {
		t.Fatal(err)
	}
	name := "localhost#/shop"
	in, err := TomcatMessage(EventAllSessionData, &name, idSessionState, payload)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// keptBytes is what a decoded message's sessions keep of their values.
func keptBytes(m *Message) int {
	n := 0
	for _, s := range m.Sessions {
		for _, a := range s.Attributes {
			n += len(a.Value)
		}
	}
	return n
}

// minExpansion is the least MaxExpansion that decodes in.
func minExpansion(t *testing.T, in []byte) int {
	t.Helper()
	for x := 1; x <= 256; x++ {
		_, err := JavaCodec{MaxExpansion: x}.DecodeMessage(in)
		if err == nil {
			return x
		}
		if !errors.Is(err, ErrDecodeBudget) {
			t.Fatal(err)
		}
	}
	t.Fatal("no MaxExpansion up to 256 decodes the message")
	return 0
}

// A state transfer chunk of 1000 real sessions, each holding a few objects of the
// application's classes, decodes within the default budget with room to spare. Tomcat's
// stream writes each class descriptor once and refers back to it with 5 bytes; the Go
// form of each value is a stream of its own that writes every descriptor it needs, so
// the values take several times the message. Measured (kept bytes / message bytes):
// the shop (a Cart of 2-3 Items with an abstract BaseEntity superclass, a UserProfile, a
// CSRF token String, every other session an ArrayList of SKUs) 1.81; the heavy shop (its
// descriptors' bytes beyond the data twice the shop's and more) 2.91; the shop signed in
// with Spring Security (SecurityContextImpl, Locale.US) 3.76; the heavy shop so 4.11,
// which MaxExpansion 4 let through only by its 128 KiB slack; 20 small values a session
// 2.75. DefaultMaxExpansion must leave at least three times the worst of them.
func TestJavaCodecShopStateWithinBudget(t *testing.T) {
	var perSession [5]float64 // bytes the values take beyond the message, per session
	for _, kind := range []shopKind{shop, shopHeavy, shopSpring, shopHeavySpring, smallValues} {
		const n = 1000
		in := shopState(t, n, kind)
		m, err := JavaCodec{}.DecodeMessage(in)
		if err != nil {
			t.Fatalf("%v: a %d-byte chunk of %d sessions: %v", kind, len(in), n, err)
		}
		if len(m.Sessions) != n || m.Sessions[0].Principal != nil || m.Sessions[1].Principal == nil {
			t.Fatalf("%v: %d sessions, or the principals are not as sent", kind, len(m.Sessions))
		}
		kept := keptBytes(m)
		ratio := float64(kept) / float64(len(in))
		perSession[kind] = float64(kept-len(in)) / n
		t.Logf("%v: %d bytes of values from a %d-byte message (%.2f times); least MaxExpansion that decodes it: %d",
			kind, kept, len(in), ratio, minExpansion(t, in))
		if 3*ratio > DefaultMaxExpansion {
			t.Errorf("%v: the values take %.2f times the message, the default MaxExpansion %d leaves less than three times that",
				kind, ratio, DefaultMaxExpansion)
		}
		if kind == shopHeavySpring && kept <= 4*len(in) {
			t.Errorf("%v: the values take %.2f times the message: not past 4 times, the case this test is about", kind, ratio)
		}
	}
	if perSession[shopHeavy] < 2*perSession[shop] {
		t.Errorf("the heavy shop's values take %.0f bytes a session beyond the message, the shop's %.0f: not twice",
			perSession[shopHeavy], perSession[shop])
	}
}

// With the default MaxExpansion the attacks of javacodec_shared_test.go (which check the
// mechanism at MaxExpansion 4) stay bounded: many values, principals or notes sharing one
// large object make decoding allocate at most DefaultMaxExpansion times the message plus
// 2 MiB (the kept slack, the scratch buffers), or are refused.
func TestJavaCodecSharedObjectDefaultBudget(t *testing.T) {
	const n = 256
	check := func(what string, size int, decode func() error) {
		t.Helper()
		var err error
		alloc := testutil.Allocated(func() { err = decode() })
		if limit := uint64(DefaultMaxExpansion*size + 2<<20); alloc > limit {
			t.Errorf("%s (%d bytes): %d bytes allocated (err %v), want at most %d", what, size, alloc, err, limit)
		}
		if err != nil && !errors.Is(err, ErrDecodeBudget) {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s (%d bytes): %d bytes allocated (%.1f times), err %v", what, size, alloc, float64(alloc)/float64(size), err)
	}

	// Attribute values, each its own small object holding one 256 KiB object.
	in := sharedInnerDelta(t, n)
	check("a DeltaRequest of 256 values sharing 256 KiB", len(in), func() error {
		_, _, err := JavaCodec{}.DecodeDeltaRequest(in)
		return err
	})
	// As many as the default lets through: decoded, within the bound.
	small := sharedInnerDelta(t, DefaultMaxExpansion-1)
	check(fmt.Sprintf("a DeltaRequest of %d values sharing 256 KiB", DefaultMaxExpansion-1), len(small), func() error {
		_, acts, err := JavaCodec{}.DecodeDeltaRequest(small)
		if err == nil && len(acts) != DefaultMaxExpansion-1 {
			t.Errorf("%d actions", len(acts))
		}
		return err
	})

	// Sessions whose principals wrap one 256 KiB user principal.
	u := sharedUser(t)
	state := &Message{Event: EventAllSessionData, Context: "localhost#/app", SessionID: idSessionState, Timestamp: 1}
	for i := range n {
		state.Sessions = append(state.Sessions, SessionState{ID: fmt.Sprintf("S%04d", i), CreationTime: 1,
			LastAccessedTime: 1, MaxInactive: 60, Principal: &Principal{Name: fmt.Sprint("user", i), User: u}})
	}
	msg, err := JavaCodec{}.AppendMessage(nil, state)
	if err != nil {
		t.Fatal(err)
	}
	check("an EVT_ALL_SESSION_DATA of 256 principals sharing a 256 KiB user principal", len(msg), func() error {
		_, err := JavaCodec{}.DecodeMessage(msg)
		return err
	})
}

type shopKind int

const (
	shop            shopKind = iota // the shop's classes
	shopHeavy                       // twice the descriptor bytes and more
	shopSpring                      // the shop signed in with Spring Security
	shopHeavySpring                 // the heavy shop signed in with Spring Security
	smallValues                     // 20 small values a session (TestJavaCodecDenseStateWithinBudget's)
)

func (k shopKind) String() string {
	return [...]string{"shop", "heavy shop", "shop with Spring Security",
		"heavy shop with Spring Security", "20 small values"}[k]
}

// springSecurity are the classes of Spring Security's SPRING_SECURITY_CONTEXT session
// attribute, a SecurityContextImpl holding a UsernamePasswordAuthenticationToken: its
// details (WebAuthenticationDetails), principal (userdetails.User) and authorities
// (Collections.unmodifiableList of SimpleGrantedAuthority; the User's a
// Collections.unmodifiableSet, of a HashSet here where Spring has a TreeSet with a
// comparator, which takes more). Many descriptors, few bytes of data: the session
// attribute of every signed-in user of a Spring application.
type springSecurity struct {
	secContext, token, abstractToken, authority, details, user *jserial.ClassDesc
	unmodList, unmodRAList, unmodSet, unmodColl                *jserial.ClassDesc
	// locale is Locale.US, which SessionLocaleResolver keeps in every session: the message
	// writes it once and refers back to it.
	locale *jserial.Object
}

func newSpringSecurity() *springSecurity {
	obj := func(name, sig string) jserial.Field { return jserial.Field{Type: 'L', Name: name, Signature: sig} }
	const objSig, strSig = "Ljava/lang/Object;", "Ljava/lang/String;"
	s := &springSecurity{}
	ser := byte(jserial.SCSerializable)
	s.unmodColl = &jserial.ClassDesc{Name: "java.util.Collections$UnmodifiableCollection", SUID: 1820017752578914078, Flags: ser,
		Fields: []jserial.Field{obj("c", "Ljava/util/Collection;")}}
	s.unmodList = &jserial.ClassDesc{Name: "java.util.Collections$UnmodifiableList", SUID: -283967356065247728, Flags: ser,
		Fields: []jserial.Field{obj("list", "Ljava/util/List;")}, Super: s.unmodColl}
	s.unmodRAList = &jserial.ClassDesc{Name: "java.util.Collections$UnmodifiableRandomAccessList", SUID: -2542308836966382001, Flags: ser,
		Super: s.unmodList}
	s.unmodSet = &jserial.ClassDesc{Name: "java.util.Collections$UnmodifiableSet", SUID: -9215047833775013803, Flags: ser,
		Super: s.unmodColl}
	s.authority = &jserial.ClassDesc{Name: "org.springframework.security.core.authority.SimpleGrantedAuthority", SUID: 620, Flags: ser,
		Fields: []jserial.Field{obj("role", strSig)}}
	s.details = &jserial.ClassDesc{Name: "org.springframework.security.web.authentication.WebAuthenticationDetails", SUID: 620, Flags: ser,
		Fields: []jserial.Field{obj("remoteAddress", strSig), obj("sessionId", strSig)}}
	s.user = &jserial.ClassDesc{Name: "org.springframework.security.core.userdetails.User", SUID: 620, Flags: ser,
		Fields: []jserial.Field{{Type: 'Z', Name: "accountNonExpired"}, {Type: 'Z', Name: "accountNonLocked"},
			{Type: 'Z', Name: "credentialsNonExpired"}, {Type: 'Z', Name: "enabled"}, obj("authorities", "Ljava/util/Set;"),
			obj("password", strSig), obj("username", strSig)}}
	s.abstractToken = &jserial.ClassDesc{Name: "org.springframework.security.authentication.AbstractAuthenticationToken", SUID: 620, Flags: ser,
		Fields: []jserial.Field{{Type: 'Z', Name: "authenticated"}, obj("authorities", "Ljava/util/Collection;"), obj("details", objSig)}}
	s.token = &jserial.ClassDesc{Name: "org.springframework.security.authentication.UsernamePasswordAuthenticationToken", SUID: 620, Flags: ser,
		Fields: []jserial.Field{obj("credentials", objSig), obj("principal", objSig)}, Super: s.abstractToken}
	s.secContext = &jserial.ClassDesc{Name: "org.springframework.security.core.context.SecurityContextImpl", SUID: 620, Flags: ser,
		Fields: []jserial.Field{obj("authentication", "Lorg/springframework/security/core/Authentication;")}}
	localeDesc := &jserial.ClassDesc{Name: "java.util.Locale", SUID: 9149081749638150636, Flags: ser | jserial.SCWriteMethod,
		Fields: []jserial.Field{{Type: 'I', Name: "hashcode"}, obj("country", strSig), obj("extensions", strSig),
			obj("language", strSig), obj("script", strSig), obj("variant", strSig)}}
	s.locale = &jserial.Object{Class: localeDesc, Slots: []jserial.Slot{{Class: localeDesc,
		Values: []any{int32(-1), "US", "", "en", "", ""}}}}
	return s
}

// context returns user i's SecurityContextImpl.
func (s *springSecurity) context(t *testing.T, i int) *jserial.Object {
	t.Helper()
	var c shopClasses
	var auths []any
	for _, r := range []string{"ROLE_USER", "ROLE_CUSTOMER"} {
		auths = append(auths, c.object(t, s.authority, map[string]any{"role": r}))
	}
	set := &jserial.Set{Elems: auths}
	user := c.object(t, s.user, map[string]any{"accountNonExpired": true, "accountNonLocked": true,
		"credentialsNonExpired": true, "enabled": true, "username": fmt.Sprint("user", i),
		"authorities": c.object(t, s.unmodSet, map[string]any{"c": set})})
	list := c.object(t, s.unmodRAList, map[string]any{"c": auths, "list": auths})
	token := c.object(t, s.token, map[string]any{"authenticated": true, "authorities": list, "principal": user,
		"details": c.object(t, s.details, map[string]any{"remoteAddress": fmt.Sprintf("10.0.%d.%d", i/256, i%256),
			"sessionId": fmt.Sprintf("%032X", i)})})
	return c.object(t, s.secContext, map[string]any{"authentication": token})
}

var cartItemDesc = &jserial.ClassDesc{Name: "com.example.shop.CartItem", SUID: 1, Flags: jserial.SCSerializable,
	Fields: []jserial.Field{{Type: 'I', Name: "quantity"}, {Type: 'J', Name: "productId"},
		{Type: 'L', Name: "sku", Signature: "Ljava/lang/String;"}}}

// smallSessionValues are TestJavaCodecDenseStateWithinBudget's 20 values of session i:
// Integer, Long, Boolean, Date and a small bean.
func smallSessionValues(t *testing.T, i int) []namedObject {
	t.Helper()
	var c shopClasses
	out := make([]namedObject, 20)
	for k := range out {
		var v any
		switch k % 5 {
		case 0:
			v = int32(1000 + k)
		case 1:
			v = int64(1000 + k)
		case 2:
			v = k%2 == 0
		case 3:
			v = time.UnixMilli(int64(k)).UTC()
		default:
			v = c.object(t, cartItemDesc, map[string]any{"quantity": int32(k), "productId": int64(i), "sku": "A1"})
		}
		out[k] = namedObject{fmt.Sprint("k", k), v}
	}
	return out
}
