package delta_test

import (
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// BenchmarkJavaCodecAppendDelta: the encoding of a Tomcat delta of three attribute
// values (a String, an Integer, a list) with JavaCodec's defaults, what a request of a
// Tomcat-compatible cluster sends.
func BenchmarkJavaCodecAppendDelta(b *testing.B) {
	vals := []any{"a value of some thirty bytes..", int32(42), []any{"x", "y", int32(3)}}
	msg := &delta.Message{Event: delta.EventDelta, Context: "/app", SessionID: "S1", UniqueID: "u"}
	for i, v := range vals {
		s, err := jserial.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		msg.Actions = append(msg.Actions, delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: string(rune('a' + i)), Value: s})
	}
	var c delta.JavaCodec
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.AppendMessage(buf[:0], msg)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
}
