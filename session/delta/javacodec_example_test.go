package delta_test

import (
	"fmt"

	"github.com/gotribes/tribes/session/delta"
)

// A delta in Tomcat's format: the attribute value is a java.lang.Integer, the message a
// SessionMessageImpl stream a Tomcat DeltaManager reads.
func ExampleJavaCodec() {
	var values delta.JavaValueCodec
	counter, err := values.Marshal(42) // a Go int is a java.lang.Integer
	if err != nil {
		panic(err)
	}
	var codec delta.JavaCodec
	data, err := codec.AppendMessage(nil, &delta.Message{Event: delta.EventDelta, Context: "localhost#/app",
		SessionID: "A1.node1", Timestamp: 1700000000000,
		Actions: []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "counter", Value: counter}}})
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", data[:6])

	m, err := codec.DecodeMessage(data)
	if err != nil {
		panic(err)
	}
	v, err := values.Unmarshal(m.Actions[0].Value)
	if err != nil {
		panic(err)
	}
	fmt.Println(codec.Owns(data), m.Event, m.SessionID, m.Actions[0].Name, v)

	_, err = values.Marshal(uint(1))
	fmt.Println(err)
	// Output:
	// ac ed 00 05 73 72
	// true EVT_SESSION_DELTA A1.node1 counter 42
	// delta: value has no Java form: uint
}

// A principal with the attributes a realm gave it, in a delta Tomcat reads as a
// GenericPrincipal whose getAttribute("mail") is a String.
func ExamplePrincipal() {
	p := &delta.Principal{Name: "alice", Roles: []string{"admin"},
		Attributes: map[string]any{"mail": "alice@example.com", "uid": 1000}}
	value, err := delta.EncodePrincipal(p)
	if err != nil {
		panic(err)
	}
	var codec delta.JavaCodec
	data, err := codec.AppendMessage(nil, &delta.Message{Event: delta.EventDelta, Context: "localhost#/app",
		SessionID: "A1.node1", Actions: []delta.Action{{Type: delta.ActionPrincipal, Op: delta.OpSet, Value: value}}})
	if err != nil {
		panic(err)
	}
	m, err := codec.DecodeMessage(data)
	if err != nil {
		panic(err)
	}
	got, err := delta.DecodePrincipal(m.Actions[0].Value)
	if err != nil {
		panic(err)
	}
	mail, _ := got.Attribute("mail")
	fmt.Println(got.Name, got.HasRole("admin"), mail, got.Attributes["uid"])

	p.Attributes["shoe size"] = uint(42)
	_, err = delta.EncodePrincipal(p)
	fmt.Println(err)
	// Output:
	// alice true alice@example.com 1000
	// delta: principal "alice": delta: value has no Java form: uint
}
