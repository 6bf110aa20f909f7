package delta

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// TestJavaValueCodecTakesTheClustersLimits: a Manager's JavaValueCodec reads attribute
// values with its cluster codec's Limits where its own fields are zero, as a JVM's
// jdk.serialFilter applies to every stream it reads. A user sets the cluster's
// (JavaCodec{Limits: ...}, docs/tomcat.md) and writes JavaValueCodec{} beside it; the
// values were read with jserial's defaults, so that a value past limits the user lowered
// (40 strings under MaxHandles 16) was taken, and one the cluster's raised limits let in
// (nested 1100 deep, past the default MaxDepth 1000) could not be read back. Its own
// non-zero fields still apply, and a cluster codec with zero Limits leaves the defaults.
func TestJavaValueCodecTakesTheClustersLimits(t *testing.T) {
	list := make([]any, 40)
	for i := range list {
		list[i] = fmt.Sprint("role", i)
	}
	wide, err := JavaValueCodec{}.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	desc := &jserial.ClassDesc{Name: "example.Link", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'L', Name: "next", Signature: "Ljava/lang/Object;"}}}
	var next any
	for range 1100 {
		next = &jserial.Object{Class: desc, Slots: []jserial.Slot{{Class: desc, Values: []any{next}}}}
	}
	var b bytes.Buffer
	enc, err := jserial.NewEncoder(&b, jserial.EncoderConfig{MaxDepth: 4000})
	if err == nil {
		err = enc.Encode(next)
	}
	if err != nil {
		t.Fatal(err)
	}
	deep := b.Bytes()

	low := jserial.DecoderConfig{MaxHandles: 16}
	high := jserial.DecoderConfig{MaxDepth: 4000}
	for _, c := range []struct {
		name           string
		cluster        MessageCodec
		values         ValueCodec
		wideOK, deepOK bool
	}{
		{"JavaCodec zero Limits", JavaCodec{}, JavaValueCodec{}, true, false},
		{"JavaCodec MaxHandles 16", JavaCodec{Limits: low}, JavaValueCodec{}, false, false},
		{"*JavaCodec MaxHandles 16, *JavaValueCodec", &JavaCodec{Limits: low}, &JavaValueCodec{}, false, false},
		{"JavaCodec MaxDepth 4000", JavaCodec{Limits: high}, JavaValueCodec{}, true, true},
		{"JavaCodec MaxDepth 4000, own MaxArrayLen 8", JavaCodec{Limits: high}, JavaValueCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 8}}, false, true},
		{"JavaCodec MaxHandles 16, own MaxHandles 64", JavaCodec{Limits: low}, JavaValueCodec{Limits: jserial.DecoderConfig{MaxHandles: 64}}, true, false},
		{"BinaryCodec MaxDepth 4000", BinaryCodec{Limits: high}, JavaValueCodec{}, true, true},
		{"BinaryCodec MaxHandles 16", BinaryCodec{Limits: low}, JavaValueCodec{}, false, false},
	} {
		cl := &Cluster{codec: c.cluster}
		m, err := cl.NewManager(Config{Name: "app", Codec: c.values})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, v := range []struct {
			what string
			data []byte
			ok   bool
		}{{"40 strings", wide, c.wideOK}, {"1100 deep", deep, c.deepOK}} {
			_, err := m.cfg.Codec.Unmarshal(v.data)
			if v.ok && err != nil {
				t.Errorf("%s: %s refused: %v", c.name, v.what, err)
			} else if !v.ok && !errors.Is(err, jserial.ErrLimit) {
				t.Errorf("%s: %s: %v, want jserial.ErrLimit", c.name, v.what, err)
			}
		}
	}
}
