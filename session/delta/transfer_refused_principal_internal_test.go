package delta

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/jserial"
)

// TestChunkSessionWithPrincipalPastLimitsLeftOut: a session of a state transfer chunk
// whose principal's Java form is longer than the joiner's MaxValueSize, or whose
// principal's name or a role is longer than its MaxStringLen, made the joiner refuse
// the whole chunk as malformed: the decoder skipped the field past the limits (as it
// does for any session, TestTransferRefusesOnlyTheSessionPastLimits) and then read the
// Java form skipped (empty) or checked it against the name skipped (empty), which
// failed as bytes no encoder writes. That session alone is now left out, the sessions
// after it read at the right place.
func TestChunkSessionWithPrincipalPastLimitsLeftOut(t *testing.T) {
	p := func(name, role string) *Principal {
		return &Principal{Name: name, Roles: []string{role}, Attributes: map[string]any{"mail": strings.Repeat("m", 300)}}
	}
	long := strings.Repeat("n", 200)
	for _, c := range []struct {
		name  string
		codec BinaryCodec
		p     *Principal
	}{
		{"Java form past MaxValueSize", BinaryCodec{MaxValueSize: 256}, p("alice", "r")},
		{"name past MaxStringLen", BinaryCodec{MaxStringLen: 128}, p(long, "r")},
		{"role past MaxStringLen", BinaryCodec{MaxStringLen: 128}, p("alice", long)},
	} {
		msg := &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Total: 3,
			Sessions: []SessionState{
				{ID: "A", Attributes: []NamedValue{{Name: "k", Value: []byte("a")}}},
				{ID: "B", Principal: c.p, Attributes: []NamedValue{{Name: "k", Value: []byte("b")}}},
				{ID: "C", Attributes: []NamedValue{{Name: "k", Value: []byte("c")}}},
			}}
		data, err := BinaryCodec{}.AppendMessage(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.codec.DecodeMessage(data)
		if err != nil {
			t.Errorf("%s: chunk refused whole: %v", c.name, err)
			continue
		}
		if len(got.Sessions) != 2 || got.Sessions[0].ID != "A" || got.Sessions[1].ID != "C" ||
			string(got.Sessions[1].Attributes[0].Value) != "c" {
			t.Errorf("%s: sessions %+v, want A and C as sent", c.name, got.Sessions)
		}
		if len(got.refused) != 1 || got.refused[0].id != "B" {
			t.Errorf("%s: left out %+v, want session B", c.name, got.refused)
		}
	}
}

// TestChunkOfManyRefusedSessionsKeepsFewRecords: the decoder kept a record (id and
// reason, the reason formatted with jserial's error) of every session it left out of a
// chunk, and the joiner logged each: a hostile chunk of a million sessions, each with
// a principal's Java form of a few bytes past the Limits, cost several times its size
// in records and a million log calls. It now names the first maxRefusedNamed and
// counts the rest, every one still counted in Stats.TransferSessionsRefused.
func TestChunkOfManyRefusedSessionsKeepsFewRecords(t *testing.T) {
	const n = 500
	msg := &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Total: n + 1}
	for i := range n {
		msg.Sessions = append(msg.Sessions, SessionState{ID: fmt.Sprint("S", i),
			Principal: &Principal{Name: "p", Attributes: map[string]any{"a": "b"}}})
	}
	msg.Sessions = append(msg.Sessions, SessionState{ID: "last", Attributes: []NamedValue{{Name: "k", Value: []byte("v")}}})
	data, err := BinaryCodec{}.AppendMessage(nil, msg)
	if err != nil {
		t.Fatal(err)
	}
	codec := BinaryCodec{Limits: jserial.DecoderConfig{MaxHandles: 2}}
	got, err := codec.DecodeMessage(data)
	if err != nil {
		t.Fatalf("chunk refused whole: %v", err)
	}
	if len(got.Sessions) != 1 || got.Sessions[0].ID != "last" {
		t.Errorf("sessions %+v, want the last one alone", got.Sessions)
	}
	if got.refusedCount() != n || len(got.refused) > maxRefusedNamed {
		t.Errorf("%d sessions left out, %d named; want %d, at most %d named", got.refusedCount(), len(got.refused),
			n, maxRefusedNamed)
	}
	if len(got.refused) > 0 && got.refused[0].id != "S0" {
		t.Errorf("first named %+v, want S0", got.refused[0])
	}

	m := &Manager{cl: &Cluster{codec: codec}}
	m.serveLog = ratelog.New(ratelog.Config{Logger: slog.New(slog.DiscardHandler)})
	m.refusedInChunk(got, "peer", "received")
	if c := m.stats.transferSessionsRefused.Load(); c != n {
		t.Errorf("TransferSessionsRefused %d, want %d", c, n)
	}
}
