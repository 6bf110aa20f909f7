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

// TestKeptChunkKeepsItsSessions: a chunk a manager keeps for later (a refresh's queue:
// one arriving between the refresh's attempts) keeps its sessions while later chunks
// are received, each decoded into arrays the cluster recycles (chunkArrays). The
// cluster released every chunk once dispatched, a kept one too: its sessions were
// cleared, and its arrays handed to the next chunk (the kept message then had no
// sessions at all).
func TestKeptChunkKeepsItsSessions(t *testing.T) {
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	ctx := context.Background()
	m.mu.Lock()
	m.refreshing = true // between two attempts: no answer awaited (m.signal nil)
	m.mu.Unlock()
	if err := m.cl.receiveListed(ctx, src, keptChunk(t, m.cfg.Name, 0, 4, 1)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.refreshing = false
	m.mu.Unlock()
	for k := range 8 { // later chunks, decoded into recycled arrays
		if err := m.cl.receiveListed(ctx, src, keptChunk(t, m.cfg.Name, 100+10*k, 4, 2)); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.refreshQueue) != 1 {
		t.Fatalf("%d messages kept, want the chunk", len(m.refreshQueue))
	}
	msg := m.refreshQueue[0].msg
	if msg.Event != EventAllSessionData || len(msg.Sessions) != 4 {
		t.Fatalf("the kept message is %s with %d sessions, want the chunk's 4", msg.Event, len(msg.Sessions))
	}
	for i, st := range msg.Sessions {
		want := fmt.Sprintf("%032X.peer", i)
		if st.ID != want || st.Version != 3 || len(st.Attributes) != 1 || st.Attributes[0].Name != "a" ||
			string(st.Attributes[0].Value) != string([]byte{1, byte(i)}) {
			t.Errorf("kept session %d is %q v%d with %+v, want %s with a=[1 %d]", i, st.ID, st.Version, st.Attributes, want, i)
		}
	}
	clear(m.refreshQueue)
	m.refreshQueue = m.refreshQueue[:0]
}
