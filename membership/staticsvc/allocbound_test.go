package staticsvc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// fuzzSeeds are FuzzUnmarshal's seeds.
func fuzzSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	cls := newClasses(MemberImplSUID)
	for _, typ := range []int32{msgStart, msgStop, msgPing} {
		b, err := cls.marshal(memberMessage{typ: typ, member: testMember(), id: []byte("Catalina-Channel-StaticMembership")})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	for _, name := range []string{"start-memberimpl.ser", "stop-staticmember.ser"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestUnmarshalAllocationBound: unmarshal allocates at most 40 times a message's length
// plus 128 KiB (docs/security.md, "Memory amplification") for FuzzUnmarshal's seeds
// and every seed with a length or count smashed to a large value.
func TestUnmarshalAllocationBound(t *testing.T) {
	inputs := append(fuzzSeeds(t), allocbound.Corpus(t, "FuzzUnmarshal")...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	allocbound.Check(t, allocbound.Bound{K: 40, C: 128 << 10}, inputs, func(b []byte) { _, _ = unmarshal(b) })
}
