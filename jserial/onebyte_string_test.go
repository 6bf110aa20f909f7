package jserial

import (
	"bytes"
	"strings"
	"testing"
)

// TestDistinctOneByteStringsKeepIdentity: the package documentation promises that
// "the decoder gives every string and array its own memory, so a decoded stream
// re-encodes with the same references". Java writes two distinct String objects of one
// character (new String("a"), String.valueOf(c), ...) as two TC_STRINGs. Decoded, both
// Go strings pointed into the runtime's static one-byte table (string([]byte{'a'}) does
// not allocate), so re-encoding turned the second into a TC_REFERENCE to the first and
// every later handle moved.
func TestDistinctOneByteStringsKeepIdentity(t *testing.T) {
	// What Java 17 writes for new ArrayList<>() holding new String("a") and
	// String.valueOf('a').
	java := hx(t, "aced0005737200136a6176612e7574696c2e41727261794c6973747881d21d99c7619d03"+
		"000149000473697a65787000000002770400000002740001617400016178")
	for _, text := range []string{"a", "\x00"} {
		in := java
		if text != "a" {
			// Two String objects with the same text but their own memory, as Java has them.
			var err error
			if in, err = Marshal([]any{strings.Clone(text), strings.Clone(text)}); err != nil {
				t.Fatal(err)
			}
		}
		body := appendMUTF8([]byte{tcString, 0, byte(len(appendMUTF8(nil, text)))}, text)
		if n := bytes.Count(in, body); n != 2 {
			t.Fatalf("%q: input holds %d TC_STRINGs, want 2: %x", text, n, in)
		}
		v, err := Unmarshal(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in, out) {
			t.Errorf("%q: two distinct one-character strings re-encode with other handles:\nin  %x\nout %x", text, in, out)
		}
	}
}
