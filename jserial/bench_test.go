package jserial

import (
	"bytes"
	"testing"
)

// The session-message-sized graph (testdata/session_graph.ser, JserialGolden.sessionGraph):
// a HashMap of 9 entries holding strings, boxed Long/Integer/Boolean, a 1 KiB byte[] and
// a HashMap of 10 attributes; 1761 bytes serialized. scripts/bench-jserial.sh runs these
// next to the same graph through Java's ObjectInputStream / ObjectOutputStream.

func BenchmarkDecodeSessionGraph(b *testing.B) {
	in := golden(b, "session_graph")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeSessionGraph(b *testing.B) {
	in := golden(b, "session_graph")
	v, err := Unmarshal(in)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) != len(in) {
			b.Fatal("other bytes")
		}
	}
	if out, _ := Marshal(v); !bytes.Equal(out, in) {
		b.Fatal("Marshal does not write Java's bytes")
	}
}
