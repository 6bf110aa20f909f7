package wire

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files in testdata/golden were written by Java's MemberImpl, ChannelData, XByteBuffer and
// transport.Constants (scripts/gen-golden.sh). Go must decode them to the values the generator
// used and encode the same bytes.

func golden(t testing.TB, name string) []byte {
	t.Helper()
	s, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatalf("golden file: %v (regenerate with scripts/gen-golden.sh)", err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seqID(from byte) UniqueID {
	var id UniqueID
	for i := range id {
		id[i] = from + byte(i)
	}
	return id
}

func TestGoldenMembers(t *testing.T) {
	v6 := make([]byte, 16)
	v6[15] = 1
	cases := []struct {
		file string
		want Member
	}{
		{"member_basic.hex", specMember()},
		{"member_ipv6_shutdown.hex", Member{Port: 4001, SecurePort: 4443, UDPPort: 4002, Host: v6,
			Command: ShutdownCommand, UniqueID: seqID(0xf0)}},
		{"member_empty.hex", Member{Port: 4000, SecurePort: -1, UDPPort: -1, Host: []byte{127, 0, 0, 1}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := golden(t, c.file)
			got, n, err := ParseMember(raw)
			if err != nil || n != len(raw) {
				t.Fatalf("ParseMember: n=%d/%d err=%v", n, len(raw), err)
			}
			w := c.want
			if !got.Equal(w) || got.AliveTime != w.AliveTime || got.SecurePort != w.SecurePort ||
				got.UDPPort != w.UDPPort || !bytes.Equal(got.Command, w.Command) ||
				!bytes.Equal(got.Domain, w.Domain) || !bytes.Equal(got.Payload, w.Payload) {
				t.Fatalf("decoded %+v\nwant    %+v", got, w)
			}
			if enc := AppendMember(nil, &w); !bytes.Equal(enc, raw) {
				t.Fatalf("Go encodes\n%x\nJava wrote\n%x", enc, raw)
			}
		})
	}
	if m, _, _ := ParseMember(golden(t, "member_ipv6_shutdown.hex")); !m.IsShutdown() || m.IP().String() != "::1" {
		t.Fatalf("ipv6 shutdown member: %v shutdown=%v", m.IP(), m.IsShutdown())
	}
}

func TestGoldenFrames(t *testing.T) {
	empty := Member{Port: 4000, SecurePort: -1, UDPPort: -1, Host: []byte{127, 0, 0, 1}}
	basic := specMember()
	cases := []struct {
		file    string
		options uint32
		ts      int64
		id      []byte
		addr    Member
		msg     []byte
	}{
		{"frame_channeldata_hello.hex", 3, 0x0102030405060708, func() []byte { u := seqID(0x10); return u[:] }(), basic, []byte("hello")},
		{"frame_channeldata_empty.hex", 1, 0, bytes.Repeat([]byte{0xaa}, 16), empty, nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw := golden(t, c.file)
			body, n, err := ParseFrame(raw, 0)
			if err != nil || n != len(raw) {
				t.Fatalf("ParseFrame: n=%d err=%v", n, err)
			}
			cd, err := ParseChannelData(body, nil)
			if err != nil {
				t.Fatal(err)
			}
			if cd.Options != c.options || cd.Timestamp != c.ts || !bytes.Equal(cd.UniqueID, c.id) ||
				!cd.Address.Equal(c.addr) || !bytes.Equal(cd.Message, c.msg) {
				t.Fatalf("decoded %+v", cd)
			}
			enc := AppendChannelDataFrame(nil, c.options, c.ts, c.id, AppendMember(nil, &c.addr), c.msg)
			if !bytes.Equal(enc, raw) {
				t.Fatalf("Go encodes\n%x\nJava wrote\n%x", enc, raw)
			}
		})
	}
	raw := golden(t, "frame_raw.hex")
	if !bytes.Equal(AppendFrame(nil, []byte{1, 2, 3}), raw) {
		t.Fatalf("raw frame differs: %x", raw)
	}
	if !bytes.Equal(golden(t, "ack.hex"), AckFrame) || !bytes.Equal(golden(t, "fail_ack.hex"), FailAckFrame) {
		t.Fatal("ACK frames differ from Java's")
	}
}

// FuzzGoldenChannelDataFrame seeds a frame+ChannelData fuzz target with the golden frames
// and the ACK.
func FuzzGoldenChannelDataFrame(f *testing.F) {
	for _, name := range []string{"frame_channeldata_hello.hex", "frame_channeldata_empty.hex", "frame_raw.hex", "ack.hex"} {
		f.Add(golden(f, name))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d FrameDecoder
		d.MaxFrameSize = 1 << 16
		d.Write(in)
		for {
			body, ok, err := d.Next()
			if err != nil || !ok {
				return
			}
			var c MemberCache
			cd, err := ParseChannelData(body, &c)
			if err != nil {
				continue
			}
			if !bytes.Equal(AppendChannelData(nil, cd.Options, cd.Timestamp, cd.UniqueID, cd.AddressBytes, cd.Message), body) {
				t.Fatal("round trip differs")
			}
		}
	})
}
