package jserial

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// hx decodes hex with spaces and "<quoted ascii>" parts.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for len(s) > 0 {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
			continue
		}
		i := strings.IndexAny(s, "\" \n\t")
		if i < 0 {
			i = len(s)
		}
		if i > 0 {
			b, err := hex.DecodeString(s[:i])
			if err != nil {
				t.Fatalf("bad hex %q: %v", s[:i], err)
			}
			out = append(out, b...)
		}
		s = strings.TrimLeft(s[i:], " \n\t")
	}
	return out
}

// Samples of what Tomcat 10.1's classes write (superclass descriptors start with 72,
// checked against the JVM).
const (
	sessionMessageHex = `aced0005 7372 0031 "org.apache.catalina.ha.session.SessionMessageImpl" 0000000000000002 02 0007
 49 0008 "mEvtType"  4a 0016 "serializationTimestamp"  5a 000c "timestampSet"
 4c 000c "mContextName" 74 0012 "Ljava/lang/String;"  5b 0008 "mSession" 74 0002 "[B"
 4c 000a "mSessionID" 71 007e0001  4c 0008 "uniqueId" 71 007e0001  78
 72 0029 "org.apache.catalina.ha.ClusterMessageBase" 0000000000000001 02 0001 4a 0009 "timestamp" 78 70
 0000000000000000  00000002 00000000000003e8 01  74 000e "localhost#/app" 70 74 0003 "ABC" 74 000f "ABC-EXPIRED-MSG"`
	rpcMessageHex   = `aced0005 7372002b "org.apache.catalina.tribes.group.RpcMessage" 712a750ff274e509 0c 0000 78 70 7710 00 00000004 01020304 00000003 6d6170 74 0001 78 78`
	noRpcReplyHex   = `aced0005 7372003d "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply" 7bab8fb36a4b5ba6 0c 0000 78 72002b "org.apache.catalina.tribes.group.RpcMessage" 712a750ff274e509 0c 0000 78 70 770f 00000004 01020304 00000003 6d6170 78`
	deltaRequestHex = `aced0005 7715 0002 5331 00 00000004 00000000 00000000 0001 6b 01  74 0001 76
772e 00000000 00000001 0004 676f6e65 00  00000003 00000000 0014 5f5f5345545f5f4d4158494e54455256414c5f5f 01
7372 0011 6a6176612e6c616e672e496e7465676572 12e2a0a4f7818738 02 0001 49 0005 76616c7565 78
72 0010 6a6176612e6c616e672e4e756d626572 86ac951d0b94e08b 02 0000 78 70 00000708
7719 00000002 00000000 000e 5f5f5345545f5f49534e45575f5f 01
7372 0011 6a6176612e6c616e672e426f6f6c65616e cd207280d59cfaee 02 0001 5a 0005 76616c7565 78 70 00`
)

func TestSessionMessageRoundTrip(t *testing.T) {
	in := hx(t, sessionMessageHex)
	v, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.(*Object)
	if !ok {
		t.Fatalf("got %T", v)
	}
	if o.Class.Name != "org.apache.catalina.ha.session.SessionMessageImpl" || o.Class.SUID != 2 || o.Class.Super.Name != "org.apache.catalina.ha.ClusterMessageBase" {
		t.Fatalf("class %+v", o.Class)
	}
	for name, want := range map[string]any{"timestamp": int64(0), "mEvtType": int32(2), "serializationTimestamp": int64(1000),
		"timestampSet": true, "mContextName": "localhost#/app", "mSession": nil, "mSessionID": "ABC", "uniqueId": "ABC-EXPIRED-MSG"} {
		got, ok := o.Field(name)
		if !ok || got != want {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("re-encoded\n%x\nwant\n%x", out, in)
	}
}

func TestRpcMessageRoundTrip(t *testing.T) {
	for _, s := range []string{rpcMessageHex, noRpcReplyHex} {
		in := hx(t, s)
		v, err := Unmarshal(in)
		if err != nil {
			t.Fatal(err)
		}
		o := v.(*Object)
		r := NewDataReader(o.External)
		if o.Class.Super == nil { // RpcMessage: reply flag first, message last
			if reply, err := r.ReadBool(); err != nil || reply {
				t.Fatalf("reply %v %v", reply, err)
			}
		}
		uuid := make([]byte, 4)
		if n, _ := r.ReadInt32(); n != 4 || r.ReadFull(uuid) != nil || !bytes.Equal(uuid, []byte{1, 2, 3, 4}) {
			t.Fatalf("uuid %x", uuid)
		}
		rpcID := make([]byte, 3)
		if n, _ := r.ReadInt32(); n != 3 || r.ReadFull(rpcID) != nil || string(rpcID) != "map" {
			t.Fatalf("rpcId %q", rpcID)
		}
		if o.Class.Super == nil {
			if m, err := r.ReadObject(); err != nil || m != "x" {
				t.Fatalf("message %v %v", m, err)
			}
		}
		if !r.Done() {
			t.Fatal("data left")
		}
		out, err := Marshal(v)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encoded %x (%v)\nwant %x", out, err, in)
		}
	}
}

// TestBuildRpcMessage writes an Externalizable class defined on the Go side with
// DataWriter and gets Java's bytes.
func TestBuildRpcMessage(t *testing.T) {
	desc := &ClassDesc{Name: "org.apache.catalina.tribes.group.RpcMessage", SUID: 8154458786660410633, Flags: SCExternalizable | SCBlockData}
	var w DataWriter
	w.WriteBool(false)
	w.WriteInt32(4)
	_, _ = w.Write([]byte{1, 2, 3, 4})
	w.WriteInt32(3)
	_, _ = w.Write([]byte("map"))
	w.WriteObject("x")
	out, err := Marshal(&Object{Class: desc, External: w.Contents()})
	if err != nil {
		t.Fatal(err)
	}
	if want := hx(t, rpcMessageHex); !bytes.Equal(out, want) {
		t.Fatalf("got  %x\nwant %x", out, want)
	}
}

func TestDeltaRequestStream(t *testing.T) {
	in := hx(t, deltaRequestHex)
	all, err := UnmarshalAll(in, DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := NewDataReader(all)
	if id, err := r.ReadUTF(); err != nil || id != "S1" {
		t.Fatalf("id %q %v", id, err)
	}
	if rec, _ := r.ReadBool(); rec {
		t.Fatal("recordAllActions")
	}
	if n, _ := r.ReadInt32(); n != 4 {
		t.Fatalf("count %d", n)
	}
	type action struct {
		typ, act int32
		name     string
		value    any
	}
	want := []action{{0, 0, "k", "v"}, {0, 1, "gone", nil}, {3, 0, "__SET__MAXINTERVAL__", int32(1800)}, {2, 0, "__SET__ISNEW__", false}}
	for i, w := range want {
		var a action
		a.typ, _ = r.ReadInt32()
		a.act, _ = r.ReadInt32()
		a.name, _ = r.ReadUTF()
		has, err := r.ReadBool()
		if err != nil {
			t.Fatal(err)
		}
		if has {
			if a.value, err = r.ReadObject(); err != nil {
				t.Fatal(err)
			}
		}
		if a != w {
			t.Errorf("action %d = %+v, want %+v", i, a, w)
		}
	}
	if !r.Done() {
		t.Fatal("data left")
	}
	// Written again element by element it gives the same bytes.
	var buf bytes.Buffer
	enc, _ := NewEncoder(&buf, EncoderConfig{})
	for _, v := range all {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf.Bytes(), in) {
		t.Fatalf("got  %x\nwant %x", buf.Bytes(), in)
	}
	// And so does DataWriter, as DeltaRequest.writeExternal writes it.
	var w DataWriter
	_ = w.WriteUTF("S1")
	w.WriteBool(false)
	w.WriteInt32(4)
	for _, a := range want {
		w.WriteInt32(a.typ)
		w.WriteInt32(a.act)
		_ = w.WriteUTF(a.name)
		w.WriteBool(a.value != nil)
		if a.value != nil {
			w.WriteObject(a.value)
		}
	}
	buf.Reset()
	enc, _ = NewEncoder(&buf, EncoderConfig{})
	for _, v := range w.Contents() {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(buf.Bytes(), in) {
		t.Fatalf("DataWriter: got  %x\nwant %x", buf.Bytes(), in)
	}
}

func TestTruncatedEverywhere(t *testing.T) {
	in := hx(t, sessionMessageHex)
	for i := 0; i < len(in); i++ {
		_, err := Unmarshal(in[:i])
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadHeader) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
}
