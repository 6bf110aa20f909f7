package wire

import (
	"bytes"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// smashed returns inputs, their fuzz corpus and each of them with a length or count
// smashed to a large value.
func smashed(t *testing.T, fuzz string, inputs ...[]byte) [][]byte {
	inputs = append(inputs, allocbound.Corpus(t, fuzz)...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	return inputs
}

// TestDecodersAllocationBound: frames, members and ChannelData bodies allocate at most
// 2 times their length plus 1 KiB (the copies ParseChannelData and ParseMember make;
// ParseFrame and a FrameDecoder's Next allocate nothing, a FrameDecoder's Write what it
// buffers) for the fuzz targets' seeds and corpus and every seed with a length smashed.
func TestDecodersAllocationBound(t *testing.T) {
	bound := allocbound.Bound{K: 2, C: 1 << 10}
	m := specMember()
	m.Command = ShutdownCommand
	m.Host = bytes.Repeat([]byte{1}, 16)
	frames := smashed(t, "FuzzParseFrame", mustHex(t, specFrameHex), golden(t, "frame_channeldata_empty.hex"), AckFrame,
		AppendFrame(AppendFrame(nil, []byte("a")), []byte("bc")), []byte("FLT2002\xff\xff\xff\xff"),
		AppendFrame(nil, AppendChannelData(nil, 7, -1, nil, AppendMember(nil, &m), nil)))
	allocbound.Check(t, bound, frames, func(b []byte) { _, _, _ = ParseFrame(b, 0) })
	allocbound.Check(t, bound, frames, func(b []byte) {
		var d FrameDecoder
		for off := 0; off < len(b); off += 5 {
			_, _ = d.Write(b[off:min(off+5, len(b))])
			for {
				if _, ok, err := d.Next(); !ok || err != nil {
					break
				}
			}
		}
	})
	members := smashed(t, "FuzzParseMember", golden(t, "member_basic.hex"), golden(t, "member_ipv6_shutdown.hex"),
		golden(t, "member_empty.hex"), AppendMember(nil, &m))
	allocbound.Check(t, bound, members, func(b []byte) {
		_, _, _ = ParseMember(b)
		_, _, _ = ParseMemberView(b)
	})
	raw := mustHex(t, specFrameHex)
	body, _, _ := ParseFrame(raw, 0)
	empty, _, _ := ParseFrame(golden(t, "frame_channeldata_empty.hex"), 0)
	bodies := smashed(t, "FuzzParseChannelData", body, empty, AppendChannelData(nil, 7, -1, nil, AppendMember(nil, &m), nil))
	allocbound.Check(t, bound, bodies, func(b []byte) {
		var c MemberCache
		_, _ = ParseChannelData(b, &c)
	})
}
