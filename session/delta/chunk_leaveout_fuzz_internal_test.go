package delta

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// FuzzDecodeChunkLeavesOut: a joiner's BinaryCodec leaves out of a state transfer
// chunk a session with a string, a value or a principal's Java form past its limits
// and reads on (TestTransferRefusesOnlyTheSessionPastLimits), and the sessions past its
// MaxEntries (TestChunkPastMaxEntriesKeepsTheFirst). On any input that a
// codec of the default limits decodes, one of low limits either refuses it for a limit
// (ErrMessageLimit: a header string, a count past MaxEntries) or gives the same
// sessions in the same order, each as the other read it, less the ones it counts as
// left out (the default limits may leave out some too: as many in all): a field skipped never leaves the reader at another place in the stream, so
// no later session is read from the wrong bytes.
func FuzzDecodeChunkLeavesOut(f *testing.F) {
	long := strings.Repeat("x", 40)
	p := &Principal{Name: "alice", Roles: []string{"r"}, Attributes: map[string]any{"mail": "a@example.com"}}
	for _, sessions := range [][]SessionState{
		{{ID: "A"}, {ID: long}, {ID: "C", Attributes: []NamedValue{{Name: "k", Value: []byte("v")}}}},
		{{ID: "A", Attributes: []NamedValue{{Name: "k", Value: []byte(long)}}}, {ID: "B", Notes: []NamedValue{{Name: long, Value: []byte("v")}}}, {ID: "C"}},
		{{ID: "A", Principal: p}, {ID: "B", Principal: &Principal{Name: long}}, {ID: "C", AuthType: long, Listeners: []string{"l"}}},
		{{ID: "A", Principal: &Principal{Name: "bob", Roles: []string{long}, Attributes: map[string]any{"a": "b"}}}, {ID: "B", Listeners: []string{long}}},
	} {
		b, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c",
			SessionID: idSessionState, Total: len(sessions), Sessions: sessions})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	wide := BinaryCodec{MaxEntries: 1000}
	lows := []BinaryCodec{
		{MaxEntries: 1000, MaxStringLen: 32, MaxValueSize: 32, Limits: jserial.DecoderConfig{MaxHandles: 4}},
		// A chunk of more sessions than MaxEntries: the first two read, the others left
		// out (TestChunkPastMaxEntriesKeepsTheFirst).
		{MaxEntries: 2},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		all, err := wide.DecodeMessage(data)
		if err != nil {
			return
		}
		for _, low := range lows {
			checkLeftOut(t, all, low, data)
		}
	})
}

// checkLeftOut checks FuzzDecodeChunkLeavesOut's property of low on data, which the
// default limits decode as all.
func checkLeftOut(t *testing.T, all *Message, low BinaryCodec, data []byte) {
	t.Helper()
	got, err := low.DecodeMessage(data)
	if err != nil {
		if !errors.Is(err, ErrMessageLimit) {
			t.Fatalf("refused by the low limits, not for a limit: %v", err)
		}
		return
	}
	// The default limits leave out sessions past them too (a principal's Java form
	// past jserial's defaults), which are past the low limits as well.
	if n := len(got.Sessions) + got.refusedCount(); n != len(all.Sessions)+all.refusedCount() {
		t.Fatalf("%d sessions read and %d left out, of %d and %d", len(got.Sessions), got.refusedCount(),
			len(all.Sessions), all.refusedCount())
	}
	j := 0
	for i := range all.Sessions {
		if j < len(got.Sessions) && reflect.DeepEqual(got.Sessions[j], all.Sessions[i]) {
			j++
		}
	}
	if j != len(got.Sessions) {
		t.Fatalf("session %d of the low limits' %d is not one the default limits read in that order:\n%+v",
			j, len(got.Sessions), got.Sessions[j])
	}
	if low.MaxEntries == 2 && len(got.Sessions) > 2 {
		t.Fatalf("%d sessions read past MaxEntries 2", len(got.Sessions))
	}
}
