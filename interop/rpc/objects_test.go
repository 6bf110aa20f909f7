package rpcinterop_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/objects"
)

// TestObjects sends Serializable messages both ways: Java's channel.send(members,
// serializable, options) reaches a Go objects.Func as the decoded value (and byte
// listeners as the raw stream), and objects.Send reaches Java's ChannelListener as the
// right Java object.
func TestObjects(t *testing.T) {
	javapeer.Skip(t)
	j := javapeer.Start(t)
	g := startGo(t)
	type got struct {
		v    any
		from channel.Member
	}
	values := make(chan got, 16)
	raw := make(chan *channel.Message, 16)
	g.AddMessageListener(objects.Func(func(v any, from channel.Member) error {
		values <- got{v, from}
		return nil
	}))
	g.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		raw <- m
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()

	t.Run("JavaToGo", func(t *testing.T) {
		for _, tc := range []struct {
			obj   javapeer.Object
			check func(any) error
		}{
			{javapeer.Object{Kind: "string", Arg: "hello"}, equal("hello")},
			{javapeer.Object{Kind: "int", Arg: "42"}, equal(int32(42))},
			{javapeer.Object{Kind: "map"}, checkMap},
			{javapeer.Object{Kind: "value", Arg: "gopher"}, func(v any) error { return checkValue(v, "gopher") }},
		} {
			const opts = int(channel.OptUseAck | channel.OptSyncAck)
			r, err := j.SendObject(ctx, []string{memberText(g)}, opts, tc.obj)
			if err != nil || r.Sent != 1 {
				t.Fatalf("%v: %+v, %v", tc.obj, r, err)
			}
			// Synchronized ACK: both listeners ran before the send returned.
			v, m := <-values, <-raw
			if err := tc.check(v.v); err != nil {
				t.Errorf("%v: %v", tc.obj, err)
			}
			if v.from.Port != int32(j.Port) || m.Options != channel.SendOptions(opts) ||
				!bytes.HasPrefix(m.Data, []byte{0xAC, 0xED, 0, 5}) {
				t.Errorf("%v: from %v, raw options %v, data %x", tc.obj, v.from, m.Options, m.Data[:min(8, len(m.Data))])
			}
		}
	})

	t.Run("GoToJava", func(t *testing.T) {
		to := []channel.Member{javaMember(t, j)}
		for _, tc := range []struct {
			v             any
			class, string string
		}{
			{"hello", "java.lang.String", "hello"},
			{int32(42), "java.lang.Integer", "42"},
			{int64(7), "java.lang.Long", "7"},
			{[]any{"x", int32(5)}, "java.util.ArrayList", "[x, 5]"},
			{testMap(), "java.util.HashMap", "{a=1, b=two}"},
			{newValue(t, "gopher"), javapeer.ValueClass, "Value[name=gopher, count=6]"},
		} {
			// OptByteMessage is cleared whatever the caller asks.
			if err := objects.Send(ctx, g, to, tc.v, channel.OptByteMessage|channel.OptUseAck); err != nil {
				t.Fatalf("%T: %v", tc.v, err)
			}
			ev := j.WaitEvent(t, testutil.WaitLimit, func(e javapeer.Event) bool { return e.Event == "object" })
			d := ev.Describe()
			if d.Class != tc.class || d.String != tc.string || ev.Options != int(channel.OptUseAck) {
				t.Errorf("Java got %s %q options %d, want %s %q options 2", d.Class, d.String, ev.Options, tc.class, tc.string)
			}
			if d.From.Port != int(g.LocalMember().Port) {
				t.Errorf("Java saw sender port %d, want %d", d.From.Port, g.LocalMember().Port)
			}
		}
		st, err := j.Stats(ctx)
		if err != nil || st.Objects != 6 || st.Received != 0 {
			t.Fatalf("Java stats %+v, %v: want 6 objects, no byte messages", st, err)
		}
	})
}

func equal(want any) func(any) error {
	return func(v any) error {
		if v != want {
			return fmt.Errorf("got %#v, want %#v", v, want)
		}
		return nil
	}
}
