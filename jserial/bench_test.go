package jserial

import (
	"bytes"
	"testing"
)

// The session-message-sized graph (testdata/session_graph.ser, JserialGolden.sessionGraph):
// a HashMap of 9 entries holding strings, boxed Long/Integer/Boolean, a 1 KiB byte[] and
// a HashMap of 10 attributes; 1699 bytes serialized. scripts/bench-jserial.sh runs these
// next to the same graph through Java's ObjectInputStream / ObjectOutputStream. Besides
// ns/op they report cpu-ns/op: CPU time of the whole process (GC included) per
// operation, which other load on the machine does not inflate.

func BenchmarkDecodeSessionGraph(b *testing.B) {
	in := golden(b, "session_graph")
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := Unmarshal(in); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

func reportCPU(b *testing.B, start int64) {
	if used := processCPU() - start; start > 0 && b.N > 0 {
		b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
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
	cpu := processCPU()
	for b.Loop() {
		out, err := Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) != len(in) {
			b.Fatal("other bytes")
		}
	}
	reportCPU(b, cpu)
	if out, _ := Marshal(v); !bytes.Equal(out, in) {
		b.Fatal("Marshal does not write Java's bytes")
	}
}
