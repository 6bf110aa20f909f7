package delta_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestJavaChunkPastTheJoinersLimitsRefusedWhole pins what docs/sessions.md says a
// JavaCodec joiner does with a state transfer chunk holding one session past its Limits:
// it refuses the whole chunk (an error wrapping ErrMessageLimit and jserial.ErrLimit),
// and so it does a chunk of more sessions than its MaxEntries,
// unlike BinaryCodec, since Tomcat's chunk is one Java serialization stream with one
// handle table and no length of a session: the end of the session past the limits is
// found only by decoding it. A joiner with the donor's Limits reads every session.
func TestJavaChunkPastTheJoinersLimitsRefusedWhole(t *testing.T) {
	donor := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 1000}}
	value := func(n int) []byte {
		v := make([]any, n)
		for i := range v {
			v[i] = fmt.Sprint("s", i)
		}
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	chunk := &delta.Message{Event: delta.EventAllSessionData, Context: "c", SessionID: "SESSION-STATE", Total: 3}
	for i, n := range []int{2, 100, 2} { // the second session's list is past MaxArrayLen 50
		chunk.Sessions = append(chunk.Sessions, delta.SessionState{ID: fmt.Sprint("S", i),
			Attributes: []delta.NamedValue{{Name: "k", Value: value(n)}}})
	}
	data, err := donor.AppendMessage(nil, chunk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}.DecodeMessage(data)
	if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) {
		t.Fatalf("the chunk read by a joiner of MaxArrayLen 50: %v sessions, %v; want refused whole (ErrMessageLimit)",
			got, err)
	}
	if _, err := (delta.JavaCodec{MaxEntries: 2}).DecodeMessage(data); !errors.Is(err, delta.ErrMessageLimit) {
		t.Errorf("the chunk of 3 sessions read by a joiner of MaxEntries 2: %v, want refused whole (ErrMessageLimit)", err)
	}
	all, err := donor.DecodeMessage(data)
	if err != nil || len(all.Sessions) != 3 {
		t.Fatalf("the chunk read with the donor's Limits: %v", err)
	}
}
