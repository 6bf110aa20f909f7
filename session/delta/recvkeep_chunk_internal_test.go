package delta

import (
	"context"
	"fmt"
	"testing"
)

// keptChunk returns a state transfer chunk of manager name: n sessions first, first+1,
// ..., each with the attribute "a" set to [value i].
func keptChunk(t *testing.T, name string, first, n int, value byte) []byte {
	t.Helper()
	ss := make([]SessionState, n)
	for i := range ss {
		ss[i] = SessionState{ID: fmt.Sprintf("%032X.peer", first+i), Version: 3, MaxInactive: 1800,
			Attributes: []NamedValue{{Name: "a", Value: []byte{value, byte(i)}}}}
	}
	data, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: name,
		SessionID: idSessionState, Timestamp: nowMs(), Sessions: ss})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestChunkBetweenRefreshAttemptsIsNotKept: a state transfer chunk arriving while a
// refresh runs but waits for no answer (between its attempts: a late answer to an earlier
// request) is counted unexpected at once and not queued: replayed after the refresh it is
// unexpected too, and queued it held its sessions (values and all) until then, up to
// maxRefreshQueue chunks of up to MaxMessageSize each. Before, it was queued (one
// message kept with its 4 sessions). The chunks received after it, decoded into recycled
// arrays (chunkArrays), are applied as before.
func TestChunkBetweenRefreshAttemptsIsNotKept(t *testing.T) {
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	ctx := context.Background()
	unexpected := m.Stats().Unexpected
	m.mu.Lock()
	m.refreshing = true // between two attempts: no answer awaited (m.signal nil)
	m.mu.Unlock()
	if err := m.cl.receiveListed(ctx, src, keptChunk(t, m.cfg.Name, 0, 4, 1)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	queued := len(m.refreshQueue)
	m.refreshing = false
	clear(m.refreshQueue)
	m.refreshQueue = m.refreshQueue[:0]
	m.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d messages kept for the refresh's end, want none (the chunk is unexpected)", queued)
	}
	if got := m.Stats().Unexpected - unexpected; got != 1 {
		t.Errorf("%d messages counted unexpected, want the chunk", got)
	}
	for k := range 8 { // later chunks, decoded into recycled arrays
		if err := m.cl.receiveListed(ctx, src, keptChunk(t, m.cfg.Name, 100+10*k, 4, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stats().Unexpected - unexpected; got != 1+8 {
		t.Errorf("%d messages counted unexpected, want the chunk and the 8 later ones (no transfer runs)", got)
	}
}
