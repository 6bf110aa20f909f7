package delta_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestChunkPastMaxEntriesKeepsTheFirst: a state transfer chunk of more sessions than
// the joiner's BinaryCodec MaxEntries (a donor whose codec allows more) was refused
// whole, reported lost, and with no other member to ask the joiner's state transfer
// failed, every session of the chunk lost. The joiner now applies the first MaxEntries
// sessions and leaves out the others, counted in Stats.TransferSessionsRefused, as a
// session past its other limits is; the decoder reads each left out to its end, so the
// sessions kept are the donor's first ones, whole.
func TestChunkPastMaxEntriesKeepsTheFirst(t *testing.T) {
	ctx := context.Background()
	const n, maxEntries = 20, 8
	chunk := &delta.Message{Event: delta.EventAllSessionData, Context: "c", SessionID: "SESSION-STATE", Total: n}
	for i := range n {
		chunk.Sessions = append(chunk.Sessions, delta.SessionState{ID: fmt.Sprint("S", i),
			Attributes: []delta.NamedValue{{Name: "k", Value: []byte(fmt.Sprint("v", i))}}})
	}
	data, err := delta.BinaryCodec{}.AppendMessage(nil, chunk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := delta.BinaryCodec{MaxEntries: maxEntries}.DecodeMessage(data)
	if err != nil {
		t.Fatalf("a chunk of %d sessions, MaxEntries %d: %v", n, maxEntries, err)
	}
	if len(got.Sessions) != maxEntries {
		t.Fatalf("%d sessions read, want %d", len(got.Sessions), maxEntries)
	}
	for i, s := range got.Sessions {
		if s.ID != fmt.Sprint("S", i) || len(s.Attributes) != 1 || string(s.Attributes[0].Value) != fmt.Sprint("v", i) {
			t.Errorf("session %d read as %+v", i, s)
		}
	}

	// End to end: a donor with the default MaxEntries, a joiner with 8.
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, delta.BinaryCodec{}, delta.Config{JvmRoute: "a"})
	for i := range n {
		s, err := a.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", i); err != nil {
			t.Fatal(err)
		}
		if err := a.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	_, bch := newChannel(t, nw)
	b := readyManager(t, bch, delta.BinaryCodec{MaxEntries: maxEntries}, delta.Config{JvmRoute: "b"})
	st := b.Stats()
	if st.TransferAttempts != 1 || st.SessionsTransferred != maxEntries || st.TransferSessionsRefused != n-maxEntries {
		t.Errorf("joiner: %d transfer attempts, %d sessions transferred, %d refused; want 1, %d and %d",
			st.TransferAttempts, st.SessionsTransferred, st.TransferSessionsRefused, maxEntries, n-maxEntries)
	}
	if b.Len() != maxEntries {
		t.Errorf("joiner holds %d sessions, want %d", b.Len(), maxEntries)
	}
}
