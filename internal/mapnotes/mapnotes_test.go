package mapnotes

import (
	"errors"
	"slices"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// A diff carries the strings added since the previous one; notes encoded and decoded
// by Codec keep their items.
func TestDiffRoundTrip(t *testing.T) {
	a := New("x")
	a.Add("y")
	d, err := a.Diff()
	if err != nil {
		t.Fatal(err)
	}
	if a.Dirty() {
		t.Fatal("dirty after Diff")
	}
	o, err := Codec{}.Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jserial.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jserial.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Codec{}.Decode(v)
	if err != nil {
		t.Fatal(err)
	}
	c := got.(*Notes)
	if !slices.Equal(c.Items(), []string{"x", "y"}) {
		t.Fatalf("decoded %q", c.Items())
	}
	if err := c.ApplyDiff(d); err != nil {
		t.Fatal(err)
	}
	if want := []string{"x", "y", "y"}; !slices.Equal(c.Items(), want) {
		t.Fatalf("after diff %q, want %q", c.Items(), want)
	}
	notList, _ := jserial.Marshal(int32(1))
	if err := c.ApplyDiff(notList); !errors.Is(err, ErrNotNotes) {
		t.Fatalf("int diff: %v", err)
	}
}

func FuzzApplyDiff(f *testing.F) {
	good, _ := jserial.Marshal([]any{"a", "b"})
	f.Add(good)
	f.Add([]byte{0xAC, 0xED, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := New("z")
		if err := n.ApplyDiff(b); err != nil && len(n.Items()) != 1 {
			t.Fatalf("failed diff changed the notes: %q", n.Items())
		}
	})
}
