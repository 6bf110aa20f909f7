package wire

import (
	"bytes"
	"testing"
)

func FuzzParseFrame(f *testing.F) {
	f.Add(mustHex(f, specFrameHex))
	f.Add(golden(f, "frame_channeldata_empty.hex"))
	f.Add(AckFrame)
	f.Add(AppendFrame(AppendFrame(nil, []byte("a")), []byte("bc")))
	f.Add([]byte("FLT2002\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		body, n, err := ParseFrame(in, 1<<16)
		if err != nil {
			if n != 0 || body != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if n == 0 {
			return
		}
		if n > len(in) || !bytes.Equal(AppendFrame(nil, body), in[:n]) {
			t.Fatal("frame does not round-trip")
		}
	})
}

func FuzzFrameDecoder(f *testing.F) {
	f.Add(mustHex(f, specFrameHex), uint8(5))
	f.Add(append(bytes.Clone(AckFrame), FailAckFrame...), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		step := int(chunk)%64 + 1
		d := FrameDecoder{MaxFrameSize: 1 << 16}
		var got []byte
		for off := 0; off < len(in); off += step {
			d.Write(in[off:min(off+step, len(in))])
			for {
				body, ok, err := d.Next()
				if err != nil || !ok {
					break
				}
				got = AppendFrame(got, body)
			}
		}
		if !bytes.HasPrefix(in, got) {
			t.Fatal("decoded frames are not a prefix of the stream")
		}
	})
}

func FuzzParseMember(f *testing.F) {
	for _, g := range []string{"member_basic.hex", "member_ipv6_shutdown.hex", "member_empty.hex"} {
		f.Add(golden(f, g))
	}
	m := specMember()
	m.Command = ShutdownCommand
	m.Host = bytes.Repeat([]byte{1}, 16)
	f.Add(AppendMember(nil, &m))
	f.Fuzz(func(t *testing.T, in []byte) {
		v, vn, verr := ParseMemberView(in)
		m, n, err := ParseMember(in)
		if (err == nil) != (verr == nil) || n != vn || !m.Equal(v) {
			t.Fatalf("ParseMember (%d, %v) and ParseMemberView (%d, %v) disagree", n, err, vn, verr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(AppendMember(nil, &m), in[:n]) || !bytes.Equal(AppendMember(nil, &v), in[:n]) {
			t.Fatal("member does not round-trip")
		}
	})
}

func FuzzParseChannelData(f *testing.F) {
	raw := mustHex(f, specFrameHex)
	body, _, _ := ParseFrame(raw, 0)
	f.Add(body)
	if b, _, err := ParseFrame(golden(f, "frame_channeldata_empty.hex"), 0); err == nil {
		f.Add(b)
	}
	m := specMember()
	f.Add(AppendChannelData(nil, 7, -1, nil, AppendMember(nil, &m), nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		var c MemberCache
		cd, err := ParseChannelData(in, &c)
		if err != nil {
			return
		}
		out := AppendChannelData(nil, cd.Options, cd.Timestamp, cd.UniqueID, cd.AddressBytes, cd.Message)
		if !bytes.Equal(out, in) {
			t.Fatal("channel data does not round-trip")
		}
	})
}
