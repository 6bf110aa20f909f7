package delta

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
)

// smashed returns inputs and each of them with a length or count smashed to a large value.
func smashed(inputs [][]byte) [][]byte {
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	return inputs
}

// TestBinaryCodecAllocationBound: BinaryCodec's messages and batches, with the default
// limits, allocate at most 32 times their length plus 128 KiB (docs/security.md, "Memory
// amplification") for the fuzz targets' seeds and every seed with a length or count
// smashed.
func TestBinaryCodecAllocationBound(t *testing.T) {
	var inputs [][]byte
	msgs := sampleMessages()
	for i, m := range msgs {
		b, _ := BinaryCodec{}.AppendMessage(nil, m)
		inputs = append(inputs, b)
		b, _ = BinaryCodec{}.appendBatch(nil, msgs[:i+1])
		inputs = append(inputs, b)
	}
	inputs = append(inputs, []byte{0xF5, 'T', 'S', 1}, []byte{0xF5, 'T', 'S', 2, 1, 0})
	inputs = append(inputs, allocbound.Corpus(t, "FuzzDecodeMessage")...)
	inputs = append(inputs, allocbound.Corpus(t, "FuzzDecodeBatch")...)
	inputs = smashed(inputs)
	// C: a transfer chunk's attributes go into an array of at least 1 024 (64 KiB; the
	// cluster hands it back for the next chunk, these decodes do not).
	bound := allocbound.Bound{K: 32, C: 128 << 10}
	allocbound.Check(t, bound, inputs, func(b []byte) { _, _ = BinaryCodec{}.DecodeMessage(b) })
	allocbound.Check(t, bound, inputs, func(b []byte) { _, _ = BinaryCodec{}.decodeBatch(b, nil, nil) })
	id := channel.UniqueID{1, 2, 3}
	cuts := [][]byte{appendCut(nil, cutProbe, id, false), appendCut(nil, cutPing, id, false), appendCut(nil, cutCheck, id, false),
		appendCut(nil, cutResult, id, true), appendCut(nil, cutResult, id, false)}
	allocbound.Check(t, bound, smashed(cuts), func(b []byte) { _, _, _, _ = parseCut(b) })
}

// TestJavaCodecAllocationBound: JavaCodec's messages, with the default limits, allocate
// at most 40 times their length plus 256 KiB (docs/security.md: MaxExpansion's 16 times
// the message plus 128 KiB for the values, the jserial decoding besides) for the fuzz
// targets' seeds and corpus and every seed with a length or count smashed.
func TestJavaCodecAllocationBound(t *testing.T) {
	var inputs [][]byte
	for _, name := range []string{"delta", "delta_remove", "all_sessions", "changeid", "created", "delta_principal",
		"all_sessions_principal"} {
		inputs = append(inputs, readGolden(t, name))
	}
	inputs = append(inputs, allocbound.Corpus(t, "FuzzJavaCodec")...)
	allocbound.Check(t, allocbound.Bound{K: 40, C: 256 << 10}, smashed(inputs), func(b []byte) { _, _ = JavaCodec{}.DecodeMessage(b) })
}

// denseMessages are a transfer chunk of 5 000 empty sessions and a delta of 5 000
// attribute removals, the densest of each the codecs write.
func denseMessages() []*Message {
	ss := make([]SessionState, 5000)
	acts := make([]Action, 5000)
	for i := range ss {
		ss[i].ID = strconv.Itoa(i)
		acts[i] = Action{Type: ActionAttribute, Op: OpRemove, Name: "a"}
	}
	return []*Message{
		{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Sessions: ss},
		{Event: EventDelta, Context: "c", SessionID: "S1", Actions: acts},
	}
}

// TestDenseMessagesAllocationBound: the densest chunk and delta each codec writes decode
// within its bound: JavaCodec 26 and 21 times their length, BinaryCodec 18 and 12.
func TestDenseMessagesAllocationBound(t *testing.T) {
	for _, c := range []struct {
		codec MessageCodec
		bound allocbound.Bound
	}{{JavaCodec{}, allocbound.Bound{K: 40, C: 256 << 10}}, {BinaryCodec{}, allocbound.Bound{K: 32, C: 128 << 10}}} {
		for _, m := range denseMessages() {
			b, err := c.codec.AppendMessage(nil, m)
			if err != nil {
				t.Fatal(err)
			}
			r := allocbound.Check(t, c.bound, [][]byte{b}, func(b []byte) {
				if got, err := c.codec.DecodeMessage(b); err != nil || len(got.Sessions)+len(got.Actions) != 5000 {
					t.Errorf("%T %v: %v", c.codec, m.Event, err)
				}
			})
			t.Logf("%T %v: %d bytes, %.1f times", c.codec, m.Event, len(b), r.Ratio)
		}
	}
}

// TestValueCodecsAllocationBound: attribute values (GobCodec, JavaValueCodec) and
// principals allocate at most 32 times their length plus 64 KiB for the fuzz targets'
// seeds and corpus and every seed with a length or count smashed.
func TestValueCodecsAllocationBound(t *testing.T) {
	bound := allocbound.Bound{K: 32, C: 64 << 10}
	var gobs [][]byte
	for _, v := range []any{"s", []byte{1}, true, 42, int64(-1), uint64(7), 1.5, map[string]any{"k": []any{1, "x"}}, []string{"a"},
		gobOuter{ID: 1, List: []gobInner{{Name: "n"}}, Any: gobEmbed{Extra: "e"}, ByInt: map[int]gobInner{2: {}}, Next: &gobOuter{}}} {
		b, err := GobCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		gobs = append(gobs, b)
	}
	gobs = append(gobs, allocbound.Corpus(t, "FuzzGobCodecUnmarshal")...)
	allocbound.Check(t, bound, smashed(gobs), func(b []byte) { _, _ = GobCodec{}.Unmarshal(b) })

	var javas [][]byte
	for _, v := range []any{"s", int32(7), []any{"a", int64(2), true}, &jserial.Map{Entries: []jserial.Entry{{Key: "k", Value: "v"}}}} {
		b, err := jserial.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		javas = append(javas, b)
	}
	javas = append(javas, allocbound.Corpus(t, "FuzzJavaValueCodecUnmarshal")...)
	allocbound.Check(t, bound, smashed(javas), func(b []byte) { _, _ = JavaValueCodec{}.Unmarshal(b) })

	m, err := JavaCodec{}.DecodeMessage(readGolden(t, "delta_principal"))
	if err != nil {
		t.Fatal(err)
	}
	principals := [][]byte{bytes.Clone(m.Actions[0].Value)}
	for _, p := range []*Principal{
		{Name: "plain", Roles: []string{"a", "b"}},
		{Name: "go", Attributes: map[string]any{"n": 1, "l": []any{"x", int64(2)}}, User: &Principal{Name: "u"}},
	} {
		b, err := EncodePrincipal(p)
		if err != nil {
			t.Fatal(err)
		}
		principals = append(principals, b)
	}
	principals = append(principals, allocbound.Corpus(t, "FuzzDecodePrincipal")...)
	allocbound.Check(t, bound, smashed(principals), func(b []byte) { _, _ = DecodePrincipal(b) })
}
