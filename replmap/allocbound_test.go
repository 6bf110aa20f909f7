package replmap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/jserial"
)

// messageSeeds are FuzzMessage's seeds: the Java map's messages.
func messageSeeds(tb testing.TB) [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.ser"))
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// stateListSeed is FuzzStateList's list of six proxies.
func stateListSeed(tb testing.TB, c *codec) []byte {
	var list []any
	for i := range 6 {
		o, err := c.object(&message{MapID: []byte("m"), Type: msgProxy, Key: []byte{byte(i)}})
		if err != nil {
			tb.Fatal(err)
		}
		list = append(list, o)
	}
	b, err := jserial.Marshal(list)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestMessageAllocationBound: a received map message, decoded as the map does (unmarshal,
// its key's and value's streams, a state list), allocates at most 40 times its length
// plus 128 KiB (docs/security.md, "Memory amplification") for the fuzz targets' seeds
// and every seed with a length or count smashed to a large value, and the densest state
// list at most 48 times its length plus 128 KiB.
func TestMessageAllocationBound(t *testing.T) {
	c := newCodec(jmember.SUID, DefaultMaxMessageBytes)
	inputs := append(messageSeeds(t), stateListSeed(t, c))
	inputs = append(inputs, allocbound.Corpus(t, "FuzzMessage")...)
	inputs = append(inputs, allocbound.Corpus(t, "FuzzStateList")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	bound := allocbound.Bound{K: 40, C: 128 << 10}
	allocbound.Check(t, bound, inputs, func(b []byte) {
		if m, err := c.unmarshal(b); err == nil {
			_, _ = c.value(m.Key)
			_, _ = c.value(m.Value)
		}
	})
	allocbound.Check(t, bound, inputs, func(b []byte) { _, _ = c.stateList(b, DefaultMaxEntries) })

	// The densest state list: 20 000 proxies without map id, key or members, 17 bytes
	// each (the class by reference, the flag, the type and six nulls), each a jserial
	// object of 216 bytes (240 with a jserial Slot of 56 bytes) and a message of 160 with
	// the list's and maps' share: 37 times the list (39 then), 30.6 since jserial's
	// handle table grows by doubling, not by a quarter at a time, and an object's room
	// check no longer builds its error's text. State lists alone are held to 48 times.
	list := make([]any, 20_000)
	for i := range list {
		o, err := c.object(&message{Type: msgProxy})
		if err != nil {
			t.Fatal(err)
		}
		list[i] = o
	}
	dense, err := jserial.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	r := allocbound.Check(t, allocbound.Bound{K: 48, C: 128 << 10}, [][]byte{dense}, func(b []byte) {
		if out, err := c.stateList(b, DefaultMaxEntries); err != nil || len(out) != len(list) {
			t.Errorf("%d of %d entries, %v", len(out), len(list), err)
		}
	})
	t.Logf("the densest state list: %d bytes, %.1f times", len(dense), r.Ratio)
}
