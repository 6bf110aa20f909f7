// Package mapnotes is a test value for replicated-map diffs: Notes, a list of strings that
// implements replmap.Diffable, and Codec, the replmap.ValueCodec that holds every
// received MapNotes (interop/java/MapNotes.java, a ReplicatedMapEntry) as Notes.
//
// A MapNotes is Serializable (serialVersionUID 1) with one field, items, an ArrayList of
// Strings. Its diff is the strings added since the last diff, as a serialized ArrayList.
package mapnotes

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/gotribes/tribes/jserial"
)

// Class is the Java class of a Notes.
var Class = &jserial.ClassDesc{Name: "MapNotes", SUID: 1, Flags: jserial.SCSerializable,
	Fields: []jserial.Field{{Type: 'L', Name: "items", Signature: "Ljava/util/ArrayList;"}}}

// ErrNotNotes is wrapped by the errors about bytes or values that are not notes.
var ErrNotNotes = errors.New("mapnotes: not notes")

// maxDiffBytes bounds a diff ApplyDiff decodes.
const maxDiffBytes = 1 << 16

// Notes is a list of strings that replicates by diff. Safe for concurrent use.
type Notes struct {
	mu      sync.Mutex
	items   []string
	pending []string // added since the last Diff
}

// New returns notes holding items, with no changes to replicate.
func New(items ...string) *Notes { return &Notes{items: slices.Clone(items)} }

// Add appends s.
func (n *Notes) Add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.items = append(n.items, s)
	n.pending = append(n.pending, s)
}

// Items returns the strings.
func (n *Notes) Items() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.items)
}

// Dirty reports whether strings were added since the last Diff.
func (n *Notes) Dirty() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending) > 0
}

// Diff returns the strings added since the last Diff, as a serialized ArrayList, and
// forgets them.
func (n *Notes) Diff() ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, err := jserial.Marshal(list(n.pending))
	n.pending = nil
	return b, err
}

// ApplyDiff appends the strings of another Notes' Diff. Bytes that are not a serialized
// ArrayList of Strings are an error wrapping ErrNotNotes (or a jserial error); the notes
// are then unchanged.
func (n *Notes) ApplyDiff(diff []byte) error {
	v, err := jserial.UnmarshalConfig(diff, jserial.DecoderConfig{MaxBytes: maxDiffBytes})
	if err != nil {
		return err
	}
	add, err := strings(v)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.items = append(n.items, add...)
	return nil
}

// Codec is a replmap.ValueCodec: it holds every received MapNotes as *Notes and sends
// *Notes as MapNotes; other values pass unchanged.
type Codec struct{}

// Decode returns a MapNotes object as *Notes, other values as they are.
func (Codec) Decode(v any) (any, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class.Name != Class.Name {
		return v, nil
	}
	f, _ := o.Field("items")
	items, err := strings(f)
	if err != nil {
		return nil, err
	}
	return &Notes{items: items}, nil
}

// Encode returns *Notes as a MapNotes object, other values as they are.
func (Codec) Encode(v any) (any, error) {
	n, ok := v.(*Notes)
	if !ok {
		return v, nil
	}
	o, err := jserial.NewObject(Class)
	if err != nil {
		return nil, err
	}
	return o, o.SetField("items", list(n.Items()))
}

func list(s []string) []any {
	l := make([]any, len(s))
	for i := range s {
		l[i] = s[i]
	}
	return l
}

func strings(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %T, want an ArrayList", ErrNotNotes, v)
	}
	s := make([]string, len(l))
	for i := range l {
		if s[i], ok = l[i].(string); !ok {
			return nil, fmt.Errorf("%w: element %T, want a String", ErrNotNotes, l[i])
		}
	}
	return s, nil
}
