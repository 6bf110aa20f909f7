package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Hex of the spec's samples (tribes-wire-spec.md 4.2 and 15), written by Java 10.1.60.
const (
	specMemberHex = "5452494245532d420100" + "0000003a" + "0000000000003039" + "00000fa0" + "ffffffff" + "ffffffff" +
		"04" + "0a000001" + "00000000" + "00000003" + "646f6d" + "000102030405060708090a0b0c0d0e0f" + "00000002" + "aabb" +
		"5452494245532d450100"
	specFrameHex = "464c5432303032" + "0000007f" + "00000003" + "0102030405060708" + "00000010" +
		"101112131415161718191a1b1c1d1e1f" + "00000052" + specMemberHex + "00000005" + "68656c6c6f" + "544c4632303033"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func specMember() Member {
	var id UniqueID
	for i := range id {
		id[i] = byte(i)
	}
	return Member{AliveTime: 12345, Port: 4000, SecurePort: -1, UDPPort: -1, Host: []byte{10, 0, 0, 1},
		Domain: []byte("dom"), UniqueID: id, Payload: []byte{0xaa, 0xbb}}
}

func TestMemberSpecSample(t *testing.T) {
	raw := mustHex(t, specMemberHex)
	m, n, err := ParseMember(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(raw) || n != 82 {
		t.Fatalf("consumed %d of %d", n, len(raw))
	}
	want := specMember()
	if !m.Equal(want) || m.AliveTime != 12345 || m.SecurePort != -1 || m.UDPPort != -1 ||
		string(m.Domain) != "dom" || !bytes.Equal(m.Payload, want.Payload) || len(m.Command) != 0 {
		t.Fatalf("decoded %+v", m)
	}
	if got := AppendMember(nil, &want); !bytes.Equal(got, raw) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, raw)
	}
	if want.EncodedLen() != 82 {
		t.Fatalf("EncodedLen %d", want.EncodedLen())
	}
	if m.Addr() != "10.0.0.1:4000" {
		t.Fatalf("Addr %s", m.Addr())
	}
}

func TestMemberShutdownAndKey(t *testing.T) {
	a := specMember()
	a.Command = ShutdownCommand
	b, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := ParseMember(b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsShutdown() {
		t.Fatal("shutdown command lost")
	}
	if m.Key() != a.Key() {
		t.Fatal("key differs after round trip")
	}
	c := a.Clone()
	c.Port++
	if c.Key() == a.Key() || c.Equal(a) {
		t.Fatal("different port, same identity")
	}
}

func TestMemberParseErrors(t *testing.T) {
	good := mustHex(t, specMemberHex)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":          nil,
		"short":          good[:40],
		"no begin":       mut(func(b []byte) []byte { b[0] = 'X'; return b }),
		"no end":         mut(func(b []byte) []byte { b[len(b)-3] = 'X'; return b }),
		"body too long":  mut(func(b []byte) []byte { b[13] = 0xff; return b }),
		"negative body":  mut(func(b []byte) []byte { b[10] = 0x80; return b }),
		"host too long":  mut(func(b []byte) []byte { b[34] = 0x7f; return b }),
		"domain overrun": mut(func(b []byte) []byte { b[46] = 0x50; return b }),
		"payload short":  mut(func(b []byte) []byte { b[len(b)-16] = 1; return b }),
	}
	for name, b := range cases {
		if _, _, err := ParseMember(b); !errors.Is(err, ErrBadMember) {
			t.Errorf("%s: err = %v, want ErrBadMember", name, err)
		}
	}
}

func TestMemberValidate(t *testing.T) {
	m := specMember()
	m.Payload = make([]byte, MaxMemberSize)
	if _, err := m.MarshalBinary(); !errors.Is(err, ErrBadMember) {
		t.Fatalf("oversized member accepted: %v", err)
	}
	m = specMember()
	m.Host = make([]byte, 200)
	if err := m.Validate(); !errors.Is(err, ErrBadMember) {
		t.Fatalf("long host accepted: %v", err)
	}
}

func TestChannelDataSpecSample(t *testing.T) {
	raw := mustHex(t, specFrameHex)
	body, n, err := ParseFrame(raw, 0)
	if err != nil || n != len(raw) {
		t.Fatalf("ParseFrame: n=%d err=%v", n, err)
	}
	cd, err := ParseChannelData(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cd.Options != 3 || cd.Timestamp != 0x0102030405060708 || string(cd.Message) != "hello" {
		t.Fatalf("decoded %+v", cd)
	}
	if cd.UniqueID[0] != 0x10 || len(cd.UniqueID) != 16 {
		t.Fatalf("id %x", cd.UniqueID)
	}
	want := specMember()
	if !cd.Address.Equal(want) {
		t.Fatalf("address %v", cd.Address.String())
	}
	enc := AppendChannelDataFrame(nil, cd.Options, cd.Timestamp, cd.UniqueID, AppendMember(nil, &want), cd.Message)
	if !bytes.Equal(enc, raw) {
		t.Fatalf("encoded\n%x\nwant\n%x", enc, raw)
	}
}

func TestChannelDataErrors(t *testing.T) {
	raw := mustHex(t, specFrameHex)
	body, _, _ := ParseFrame(raw, 0)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(body)) }
	cases := map[string][]byte{
		"short":            body[:10],
		"id too long":      mut(func(b []byte) []byte { b[14] = 0x7f; return b }),
		"negative id":      mut(func(b []byte) []byte { b[12] = 0xff; return b }),
		"address too long": mut(func(b []byte) []byte { b[34] = 0x7f; return b }),
		"message too long": mut(func(b []byte) []byte { b[len(b)-6] = 9; return b }),
		"trailing bytes":   append(bytes.Clone(body), 0),
		"bad member":       mut(func(b []byte) []byte { b[36] = 'X'; return b }),
		"empty address":    AppendChannelData(nil, 1, 0, make([]byte, 16), nil, []byte("x")),
	}
	for name, b := range cases {
		if _, err := ParseChannelData(b, nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrBadChannelData) && !errors.Is(err, ErrBadMember) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestMemberCacheReusesParse(t *testing.T) {
	raw := mustHex(t, specFrameHex)
	body, _, _ := ParseFrame(raw, 0)
	var c MemberCache
	a, err := ParseChannelData(body, &c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseChannelData(body, &c)
	if err != nil {
		t.Fatal(err)
	}
	if &a.AddressBytes[0] != &b.AddressBytes[0] {
		t.Fatal("cache did not reuse the parsed address")
	}
	if !a.Address.Equal(b.Address) {
		t.Fatal("cached address differs")
	}
}

func TestParseFrameErrors(t *testing.T) {
	good := AppendFrame(nil, []byte("abc"))
	neg := bytes.Clone(good)
	neg[7] = 0x80
	badEnd := bytes.Clone(good)
	badEnd[len(badEnd)-1] = 'X'
	huge := AppendFrameHeader(nil, 1<<30)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n"), ErrBadStartMarker},
		{"garbage prefix", []byte("FLX"), ErrBadStartMarker},
		{"negative", neg, ErrNegativeLength},
		{"bad end", badEnd, ErrBadEndMarker},
		{"too large", huge, ErrFrameTooLarge},
	}
	for _, c := range cases {
		if _, _, err := ParseFrame(c.in, 1<<20); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	for i := 0; i < len(good); i++ {
		if body, n, err := ParseFrame(good[:i], 0); body != nil || n != 0 || err != nil {
			t.Fatalf("prefix %d: %q %d %v", i, body, n, err)
		}
	}
	if l, err := PeekFrameLen(huge, 1<<31-1); err != nil || l != (1<<30)+FrameOverhead {
		t.Fatalf("PeekFrameLen = %d, %v", l, err)
	}
}

func TestFrameDecoderStream(t *testing.T) {
	var stream []byte
	want := []string{"", "a", strings.Repeat("x", 5000), "last"}
	for _, w := range want {
		stream = AppendFrame(stream, []byte(w))
	}
	// Feed in awkward chunk sizes: several frames and partial frames per write.
	for _, chunk := range []int{1, 3, 17, 100, len(stream)} {
		var d FrameDecoder
		var got []string
		for off := 0; off < len(stream); off += chunk {
			end := min(off+chunk, len(stream))
			d.Write(stream[off:end])
			for {
				body, ok, err := d.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got = append(got, string(body))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: got %d frames", chunk, len(got))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("chunk %d: frame %d differs", chunk, i)
			}
		}
		if d.Buffered() != 0 {
			t.Fatalf("chunk %d: %d bytes left", chunk, d.Buffered())
		}
	}
	d := FrameDecoder{MaxFrameSize: 10}
	d.Write(AppendFrame(nil, make([]byte, 11)))
	if _, _, err := d.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	if _, _, err := d.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatal("decoder not poisoned after an error")
	}
}

func TestAckFrames(t *testing.T) {
	if hex.EncodeToString(AckFrame) != "464c543230303200000003060203544c4632303033" {
		t.Fatalf("ACK frame %x", AckFrame)
	}
	if hex.EncodeToString(FailAckFrame) != "464c5432303032000000030b0005544c4632303033" {
		t.Fatalf("FAIL_ACK frame %x", FailAckFrame)
	}
	if ClassifyAck(AckCommand) != Ack || ClassifyAck(FailAckCommand) != FailAck || ClassifyAck([]byte{1}) != NotAck {
		t.Fatal("ClassifyAck")
	}
}

func TestUniqueIDText(t *testing.T) {
	id, err := ParseUniqueID("15ddf6a6-977d-4c61-9ac2-137b358d5600")
	if err != nil {
		t.Fatal(err)
	}
	if id.String() != "15ddf6a6977d4c619ac2137b358d5600" {
		t.Fatal(id.String())
	}
	for _, bad := range []string{"xyz", "", "15ddf6a6977d4c619ac2137b358d560g", "15ddf6a6977d4c619ac2137b358d5600ff"} {
		if _, err := ParseUniqueID(bad); !errors.Is(err, ErrBadMemberText) {
			t.Errorf("ParseUniqueID(%q): %v, want ErrBadMemberText", bad, err)
		}
	}
}

// A Tomcat user has the ids in server.xml as StaticMember's uniqueId attribute, 16 signed
// bytes in braces: ParseUniqueID takes that text as it is, and refuses what Tomcat's
// setUniqueId refuses (not 16 bytes, a byte outside -128..127) with an error naming both
// forms.
func TestUniqueIDTomcatText(t *testing.T) {
	for text, want := range map[string]string{
		"{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}": "c00b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1}":            "000102030405060708090a0b0c0d0eff",
		" { -128, 127,0,0,0,0,0,0,0,0,0,0,0,0,0,0 } ":        "807f0000000000000000000000000000",
		"{-64,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10}": "c00a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
		"{+1,-2,3,-4,5,-6,7,-8,9,-10,11,-12,13,-14,15,-16}":  "01fe03fc05fa07f809f60bf40df20ff0",
		"{\t1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1\n}":              "01010101010101010101010101010101",
	} {
		id, err := ParseUniqueID(text)
		if err != nil || id.String() != want {
			t.Errorf("ParseUniqueID(%q) = %s, %v; want %s", text, id, err, want)
		}
	}
	for _, bad := range []string{"{}", "{1,2,3}", "{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}",
		"{128,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}", "{-129,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}", "{0x1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}",
		"{1,,0,0,0,0,0,0,0,0,0,0,0,0,0,0}", "{1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0", "1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}"} {
		_, err := ParseUniqueID(bad)
		if !errors.Is(err, ErrBadMemberText) || !strings.Contains(err.Error(), "{-64,1,") ||
			!strings.Contains(err.Error(), "32 hex digits") {
			t.Errorf("ParseUniqueID(%q): %v, want ErrBadMemberText naming both forms", bad, err)
		}
	}
	if _, err := ParseUniqueID("xyz"); err == nil || !strings.Contains(err.Error(), "{-64,1,") {
		t.Errorf("ParseUniqueID(xyz): %v does not name Tomcat's form", err)
	}
}

// TomcatText writes an id as Tomcat's uniqueId attribute, the text a Go node's id needs in
// every Tomcat node's server.xml (<Member ... uniqueId="...">), and ParseUniqueID reads it
// back.
func TestUniqueIDTomcatTextWritten(t *testing.T) {
	id, err := ParseUniqueID("c00b0b0b0b0b0b0b0b0b0b0b0b0b0b0b")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := id.TomcatText(), "{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}"; got != want {
		t.Fatalf("TomcatText = %s, want %s", got, want)
	}
	edge := UniqueID{0x80, 0x7f, 0xff, 0}
	if got, want := edge.TomcatText(), "{-128,127,-1,0,0,0,0,0,0,0,0,0,0,0,0,0}"; got != want {
		t.Fatalf("TomcatText = %s, want %s", got, want)
	}
	if back, err := ParseUniqueID(edge.TomcatText()); err != nil || back != edge {
		t.Fatalf("%s parses as %s, %v", edge.TomcatText(), back, err)
	}
}

// FuzzParseUniqueID: a unique id from a flag or a configuration file parses or is refused
// with ErrBadMemberText; what parses is given back by its text.
func FuzzParseUniqueID(f *testing.F) {
	for _, s := range []string{"15ddf6a6-977d-4c61-9ac2-137b358d5600", "15ddf6a6977d4c619ac2137b358d5600", "xyz", "",
		"{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}", "{1,2}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseUniqueID(s)
		if err != nil {
			if !errors.Is(err, ErrBadMemberText) {
				t.Fatalf("%q: %v does not wrap ErrBadMemberText", s, err)
			}
			return
		}
		if back, err := ParseUniqueID(id.String()); err != nil || back != id {
			t.Fatalf("%q is %s, which parses as %s, %v", s, id, back, err)
		}
		if back, err := ParseUniqueID(id.TomcatText()); err != nil || back != id {
			t.Fatalf("%q is %s, whose Tomcat text %s parses as %s, %v", s, id, id.TomcatText(), back, err)
		}
	})
}

func BenchmarkParseChannelData(b *testing.B) {
	raw := mustHex(b, specFrameHex)
	body, _, _ := ParseFrame(raw, 0)
	var c MemberCache
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := ParseChannelData(body, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendChannelDataFrame(b *testing.B) {
	m := specMember()
	addr := AppendMember(nil, &m)
	id := make([]byte, 16)
	msg := make([]byte, 1024)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(FrameLen(ChannelDataLen(16, len(addr), len(msg)))))
	for b.Loop() {
		buf = AppendChannelDataFrame(buf[:0], 3, 1, id, addr, msg)
	}
}
