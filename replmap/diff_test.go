package replmap_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
)

// notes is a Diffable list of strings. Its Java form is an ArrayList of Strings; its
// diff is the strings added since the last Diff, as a serialized ArrayList.
type notes struct {
	mu      sync.Mutex
	items   []string
	pending []string
}

func (n *notes) Add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.items = append(n.items, s)
	n.pending = append(n.pending, s)
}

func (n *notes) Items() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.items)
}

func (n *notes) Dirty() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending) > 0
}

func (n *notes) Diff() ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, err := jserial.Marshal(list(n.pending))
	n.pending = nil
	return b, err
}

func (n *notes) ApplyDiff(diff []byte) error {
	v, err := jserial.UnmarshalConfig(diff, jserial.DecoderConfig{MaxBytes: 1 << 16})
	if err != nil {
		return err
	}
	add, err := fromList(v)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.items = append(n.items, add...)
	return nil
}

func list(s []string) []any {
	l := make([]any, len(s))
	for i := range s {
		l[i] = s[i]
	}
	return l
}

func fromList(v any) ([]string, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T, want an ArrayList", v)
	}
	s := make([]string, len(l))
	for i := range l {
		if s[i], ok = l[i].(string); !ok {
			return nil, fmt.Errorf("element %T, want a String", l[i])
		}
	}
	return s, nil
}

// notesCodec holds every ArrayList of Strings as notes.
type notesCodec struct{}

func (notesCodec) Decode(v any) (any, error) {
	s, err := fromList(v)
	if err != nil {
		return v, nil
	}
	return &notes{items: s}, nil
}

func (notesCodec) Encode(v any) (any, error) {
	if n, ok := v.(*notes); ok {
		return list(n.Items()), nil
	}
	return v, nil
}

// waitItems waits until nd holds notes under key with the items want.
func waitItems(t *testing.T, nd *node, key string, want ...string) {
	t.Helper()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		n, ok := replmap.Held(nd.m, key).(*notes)
		if !ok {
			return fmt.Errorf("holds %#v, want notes", replmap.Held(nd.m, key))
		}
		if got := n.Items(); !slices.Equal(got, want) {
			return fmt.Errorf("holds %q, want %q", got, want)
		}
		return nil
	})
}

// A Diffable value changed on its primary reaches its backup as a diff (lazy map) and
// every copy (replicated map); a proxy's Get then returns the changed value from the
// backup.
func TestReplicateDiff(t *testing.T) {
	for _, replicated := range []bool{false, true} {
		t.Run(fmt.Sprintf("replicated=%v", replicated), func(t *testing.T) {
			nodes := clusterConfig(t, channeltest.NewNetwork(), 3,
				replmap.Config{Replicated: replicated, Values: notesCodec{}, SendOptions: syncAck})
			v := &notes{items: []string{"a"}}
			if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
				t.Fatal(err)
			}
			v.Add("b")
			v.Add("c")
			if err := nodes[0].m.Replicate(ctx(t), "k", false); err != nil {
				t.Fatal(err)
			}
			if v.Dirty() {
				t.Fatal("value still dirty after Replicate")
			}
			var proxies []*node
			for _, nd := range nodes[1:] {
				if replmap.Held(nd.m, "k") == nil {
					proxies = append(proxies, nd)
					continue
				}
				waitItems(t, nd, "k", "a", "b", "c")
			}
			if want := map[bool]int{false: 1, true: 0}[replicated]; len(proxies) != want {
				t.Fatalf("%d proxies, want %d", len(proxies), want)
			}
			for _, nd := range proxies {
				n, ok := get(t, nd, "k").(*notes)
				if !ok || !slices.Equal(n.Items(), []string{"a", "b", "c"}) {
					t.Fatalf("proxy get = %#v", get(t, nd, "k"))
				}
			}
			for i, nd := range nodes {
				if s := nd.m.Stats(); s.DiffsNotApplied != 0 {
					t.Fatalf("node %d: %d diffs not applied", i, s.DiffsNotApplied)
				}
			}
		})
	}
}

// A diff for a value that is not a Diffable (the backup has no Values codec) leaves the
// value as it was and is counted; the sender's Replicate succeeds, as Java's backup
// logs a diff it cannot apply. A complete Replicate of a value that is not a Diffable
// sends it in full.
func TestReplicateDiffNotDiffable(t *testing.T) {
	primary, backup := pair(t, replmap.Config{Values: notesCodec{}})
	v := &notes{items: []string{"a"}}
	if _, err := primary.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	v.Add("b")
	if err := primary.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "diff counted",
		func() bool { return backup.m.Stats().DiffsNotApplied == 1 })
	if got, want := replmap.Held(backup.m, "k"), []any{"a"}; !slices.Equal(got.([]any), want) {
		t.Fatalf("backup holds %#v, want %#v", got, want)
	}

	s := []byte("old") // changed in place on the primary
	if _, err := primary.m.Put(ctx(t), "s", s); err != nil {
		t.Fatal(err)
	}
	s[0] = 'n'
	if err := primary.m.Replicate(ctx(t), "s", false); err != nil {
		t.Fatal(err)
	}
	if got := replmap.Held(backup.m, "s"); string(got.([]byte)) != "old" {
		t.Fatalf("backup holds %q after an incomplete Replicate, want old", got)
	}
	if err := primary.m.Replicate(ctx(t), "s", true); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "full value replicated",
		func() bool { return string(replmap.Held(backup.m, "s").([]byte)) == "nld" })
}

// Diff bytes the held value cannot apply are an error wrapping ErrDiff, counted, and
// leave the value as it was.
func TestReceiveBadDiff(t *testing.T) {
	nodes := clusterConfig(t, channeltest.NewNetwork(), 2, replmap.Config{Values: notesCodec{}, SendOptions: syncAck})
	from := nodes[1].ch.LocalMember()
	m := nodes[0].m
	if err := replmap.ReceiveBackup(m, from, "k", []any{"a"}); err != nil {
		t.Fatal(err)
	}
	wrongType, err := jserial.Marshal(int32(7))
	if err != nil {
		t.Fatal(err)
	}
	for i, diff := range [][]byte{nil, {0xAC, 0xED, 0, 5, 0x74, 0xFF}, wrongType} {
		err := replmap.ReceiveDiff(m, from, "k", diff)
		if !errors.Is(err, replmap.ErrDiff) {
			t.Fatalf("diff %d: err = %v, want ErrDiff", i, err)
		}
		if got := m.Stats().DiffsNotApplied; got != uint64(i+1) {
			t.Fatalf("diff %d: %d diffs not applied", i, got)
		}
		waitItems(t, nodes[0], "k", "a")
	}
	good, err := jserial.Marshal([]any{"b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveDiff(m, from, "k", good); err != nil {
		t.Fatal(err)
	}
	waitItems(t, nodes[0], "k", "a", "b")
}
