package delta

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
)

func sampleMessages() []*Message {
	val, _ := GobCodec{}.Marshal("v")
	principal, _ := EncodePrincipal(&Principal{Name: "u", Roles: []string{"r"}})
	return []*Message{
		{Event: EventCreated, Context: "localhost#/app", SessionID: "ABC.a", Timestamp: 1700000000000},
		{Event: EventExpired, Context: "localhost#/app", SessionID: "ABC.a", UniqueID: "ABC.a-EXPIRED-MSG", Timestamp: -5},
		{Event: EventAccessed, SessionID: "ABC.a", Timestamp: 1},
		{Event: EventGetAllSessions, Context: "c", SessionID: idGetAll, Version: AskRemovals},
		{Event: EventDelta, Context: "c", SessionID: "S1", Timestamp: 7, Version: 300, Actions: []Action{
			{Type: ActionIsNew, Op: OpSet, Name: nameIsNew, Value: encodeBool(true)},
			{Type: ActionMaxInterval, Op: OpSet, Name: nameMaxInterval, Value: encodeInterval(1800)},
			{Type: ActionAttribute, Op: OpSet, Name: "k", Value: val},
			{Type: ActionAttribute, Op: OpRemove, Name: "gone"},
			{Type: ActionPrincipal, Op: OpSet, Name: namePrincipal, Value: principal},
			{Type: ActionNote, Op: OpSet, Name: "n", Value: []byte("note")},
		}},
		{Event: EventAllSessionData, Context: "c", SessionID: idSessionState, Timestamp: 9, Total: 1234, Sessions: []SessionState{
			{ID: "S1", CreationTime: 1, LastAccessedTime: 2, MaxInactive: -1, IsNew: true, Version: 3,
				Principal: &Principal{Name: "alice", Roles: []string{"a", "b"},
					Attributes: map[string]any{"mail": "alice@example.com", "uid": 1000, "groups": []any{"x", "y"}},
					User:       &Principal{Name: "alice@EXAMPLE", Roles: []string{"u"}}}, AuthType: "FORM",
				Attributes: []NamedValue{{Name: "k", Value: val}}, Notes: []NamedValue{{Name: "n", Value: []byte("x")}},
				Listeners: []string{"sso"}},
			{ID: "S2", MaxInactive: 1800},
			{ID: "S3.a", Version: 7, Removed: true},
			{ID: "S4.b", Version: 2, Removed: true, Renamed: true},
			// With the stamps a joiner asks for (AskStamps).
			{ID: "S5.c", Version: 9, stamped: true, Attributes: []NamedValue{
				{Name: "k", Value: val, version: 9, origin: 0xdeadbeef}, {Name: "j", Value: val}},
				tombs: []tomb{{name: "gone", st: stamp{8, 7}}}},
		}},
		{Event: EventTransferComplete, Context: "c", SessionID: idTransferred, Timestamp: 9},
		{Event: EventChangeSessionID, Context: "c", SessionID: "OLD.a", NewID: "NEW.b", Timestamp: 10},
		{Event: EventNoContextManager, Context: "c", SessionID: idNoContext, UniqueID: uniqueNotReady},
	}
}

// dropChunkArrays forgets the arrays decoded chunks' sessions are in (which hold what
// earlier chunks left for reuse), so that decoded messages compare by content.
func dropChunkArrays(ms ...*Message) {
	for _, m := range ms {
		m.chunk = nil
	}
}

func TestBinaryCodecRoundTrip(t *testing.T) {
	var c BinaryCodec
	for _, m := range sampleMessages() {
		b, err := c.AppendMessage([]byte("prefix"), m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) || !c.Owns(b[6:]) {
			t.Fatalf("%v: bad output", m.Event)
		}
		got, err := c.DecodeMessage(b[6:])
		if err != nil {
			t.Fatalf("%v: %v", m.Event, err)
		}
		if (got.chunk != nil) != (len(m.Sessions) > 0) {
			t.Errorf("%v: decoded into recyclable arrays: %v", m.Event, got.chunk != nil)
		}
		dropChunkArrays(got)
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%v round trip:\n got  %+v\n want %+v", m.Event, got, m)
		}
	}
	if _, err := c.AppendMessage(nil, &Message{Event: 5}); err == nil {
		t.Error("encoded an unknown event")
	}
}

func TestBinaryCodecRejectsMalformed(t *testing.T) {
	var c BinaryCodec
	for _, m := range sampleMessages() {
		good, _ := c.AppendMessage(nil, m)
		for i := range good { // every truncation fails cleanly
			if _, err := c.DecodeMessage(good[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v truncated to %d: %v", m.Event, i, err)
			}
		}
	}
	delta, _ := c.AppendMessage(nil, sampleMessages()[4])
	all, _ := c.AppendMessage(nil, sampleMessages()[5])
	cases := map[string]struct {
		c    BinaryCodec
		data []byte
	}{
		"bad magic":     {c, append([]byte{0xF5, 'T', 'S', 2}, delta[4:]...)},
		"unknown event": {c, []byte{0xF5, 'T', 'S', 1, 5, 0, 0, 0, 0, 0, 0}},
		"unknown flags": {c, []byte{0xF5, 'T', 'S', 1, 1, 0, 0, 0, 0, 0, 0x80}},
		"huge count":    {c, []byte{0xF5, 'T', 'S', 1, 13, 0, 0, 0, 0, 0, flagActions, 0xff, 0xff, 0x03}},
		"huge string":   {c, []byte{0xF5, 'T', 'S', 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		"trailing":      {c, append(bytes.Clone(delta), 0)},
		"message cap":   {BinaryCodec{MaxMessageSize: 10}, delta},
		"string cap":    {BinaryCodec{MaxStringLen: 2}, delta},
		"value cap":     {BinaryCodec{MaxValueSize: 1}, delta},
		"entries cap":   {BinaryCodec{MaxEntries: 1}, all},
	}
	// A chunk holding one removal record, written by hand: flags, then the attributes.
	record := func(flags byte, attrs ...byte) []byte {
		b := []byte{0xF5, 'T', 'S', 1, byte(EventAllSessionData), 0, 0, 0, 0, 0, flagSessions, 1,
			4, 'S', '3', '.', 'a', 0, 0, 0, flags, 7, 0}
		if len(attrs) == 0 {
			attrs = []byte{0}
		}
		return append(append(b, attrs...), 0, 0) // no notes, no listeners
	}
	if m, err := c.DecodeMessage(record(sessFlagRemoved)); err != nil || !m.Sessions[0].Removed || m.Sessions[0].Version != 7 {
		t.Fatalf("a removal record written by hand: %+v, %v", m, err)
	}
	cases["removal, new"] = struct {
		c    BinaryCodec
		data []byte
	}{c, record(sessFlagRemoved | sessFlagNew)}
	cases["removal with attributes"] = struct {
		c    BinaryCodec
		data []byte
	}{c, record(sessFlagRemoved, 1, 1, 'k', 1, 'v')}
	cases["renamed, not removed, its left ids missing"] = struct {
		c    BinaryCodec
		data []byte
	}{c, record(sessFlagRenamed)}
	if _, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, Sessions: []SessionState{
		{ID: "S3.a", Removed: true, MaxInactive: 1800}}}); err == nil {
		t.Error("encoded a removal record holding session state")
	}
	if _, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, Sessions: []SessionState{
		{ID: "S3.a", Renamed: true}}}); err == nil {
		t.Error("encoded a session marked renamed")
	}
	for name, tc := range cases {
		if _, err := tc.c.DecodeMessage(tc.data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (BinaryCodec{MaxMessageSize: 10}).AppendMessage(nil, sampleMessages()[5]); err == nil {
		t.Error("encoded a message over the cap")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		b, _ := BinaryCodec{}.AppendMessage(nil, m)
		f.Add(b)
	}
	f.Add([]byte{0xF5, 'T', 'S', 1})
	if b, err := (BinaryCodec{}).AppendMessage(nil, leftChunk("S.a", "S.c")); err == nil { // AskLeft's ids
		f.Add(b)
	}
	timed := leftChunk("S.a", "S.c")
	timed.Sessions[0].leftAt = []int64{1700000000000, 1700000000001}
	if b, err := (BinaryCodec{}).AppendMessage(nil, timed); err == nil { // with their times (flagLeftAt)
		f.Add(b)
	}
	if b, err := (BinaryCodec{}).AppendMessage(nil, leftChunk(longLeftIDs()...)); err == nil { // past maxLeftBytes
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := BinaryCodec{MaxEntries: 1000}
		m, err := c.DecodeMessage(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b, err := c.AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("re-encoding a decoded message: %v", err)
		}
		m2, err := c.DecodeMessage(b)
		if err != nil {
			t.Fatalf("decoding a re-encoded message: %v", err)
		}
		for _, st := range m.Sessions { // what a peer makes a session hold (TestLeftIDsBytesBounded)
			if size := leftSize(st.left); len(st.left) > maxLeft || size > maxLeftBytes {
				t.Fatalf("a session read with %d left ids of %d bytes (at most %d, %d)", len(st.left), size, maxLeft, maxLeftBytes)
			}
		}
		dropChunkArrays(m, m2)
		// The sessions left out for the limits are not encoded again
		// (TestTransferRefusesOnlyTheSessionPastLimits; testdata's fbdc04b8fb363408).
		m.refused, m.refusedMore = nil, 0
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
		for _, a := range m.Actions { // meta values never panic either
			switch a.Type {
			case ActionPrincipal:
				_, _ = DecodePrincipal(a.Value)
			case ActionIsNew:
				_, _ = decodeBool(a.Value)
			case ActionMaxInterval:
				_, _ = decodeInterval(a.Value)
			case ActionAttribute:
				_, _ = GobCodec{}.Unmarshal(a.Value)
			}
		}
	})
}

type point struct{ X, Y int }

func TestGobCodec(t *testing.T) {
	gob.Register(point{})
	var c GobCodec
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, v := range []any{"", "héllo", []byte{1, 2}, true, false, 0, -1, math.MaxInt, int64(math.MinInt64),
		uint64(math.MaxUint64), 3.25, math.Inf(-1), now, point{1, 2}, []string{"a"}, int32(7)} {
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		got, err := c.Unmarshal(b)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if tv, ok := v.(time.Time); ok {
			if !tv.Equal(got.(time.Time)) {
				t.Errorf("time %v != %v", got, v)
			}
			continue
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%T: got %#v want %#v", v, got, v)
		}
	}
	for _, v := range []any{func() {}, make(chan int), map[point]int{}} {
		if _, err := c.Marshal(v); err == nil {
			t.Errorf("%T encoded", v)
		}
	}
	for _, b := range [][]byte{nil, {0}, {tagBool, 2}, {tagInt, 0x80}, {tagFloat64, 1}, {tagGob, 1, 2, 3}, {tagTime}} {
		if _, err := c.Unmarshal(b); err == nil {
			t.Errorf("decoded %x", b)
		}
	}
}

func TestMetaValues(t *testing.T) {
	p := &Principal{Name: "n", Roles: []string{"a", "b"}}
	b, err := EncodePrincipal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodePrincipal(b)
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Errorf("principal %+v %v", got, err)
	}
	if _, err := DecodePrincipal(append(b, 0)); err == nil {
		t.Error("trailing principal bytes accepted")
	}
	if v, err := decodeInterval(encodeInterval(-1)); err != nil || v != -1 {
		t.Errorf("interval %v %v", v, err)
	}
	if _, err := decodeBool([]byte{2}); err == nil {
		t.Error("bool 2 accepted")
	}
}

func TestSessionIDs(t *testing.T) {
	id := newSessionID("node1")
	if len(id) != 38 || id[32] != '.' || id != sessionhttp.WithRoute(id, "node1") || sessionhttp.RouteOf(id) != "node1" || !validID(id) {
		t.Errorf("id %q", id)
	}
	for _, c := range id[:32] {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			t.Fatalf("not upper-case hex: %q", id)
		}
	}
	if sessionhttp.WithRoute("ABC.n1.x", "n2") != "ABC.n2" || sessionhttp.WithRoute("ABC.n1", "") != "ABC" {
		t.Error("withRoute")
	}
	if validID("a b") || validID("") || validRoute("a.b") {
		t.Error("validation")
	}
}

func TestBinaryCodecBatch(t *testing.T) {
	var c BinaryCodec
	msgs := sampleMessages()
	data, err := c.appendBatch([]byte("prefix"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	data = data[len("prefix"):]
	if !c.ownsBatch(data) || c.Owns(data) {
		t.Fatal("a batch must be told apart from a single message by its header")
	}
	got, err := c.decodeBatch(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]*Message, len(msgs))
	for i, m := range msgs { // what a single message decodes to
		b, _ := c.AppendMessage(nil, m)
		want[i], _ = c.DecodeMessage(b)
	}
	dropChunkArrays(got...)
	dropChunkArrays(want...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batch round trip differs:\n%+v\n%+v", got, want)
	}

	// Each message's length is a minimal uvarint (the encoder reserves five bytes, then
	// moves the message down): 2 bytes for a message of 128 or more.
	one, _ := c.appendBatch(nil, msgs[:1])
	bigMsg := &Message{Event: EventDelta, SessionID: "S", Actions: []Action{{Name: "k", Value: make([]byte, 300)}}}
	big, _ := c.AppendMessage(nil, bigMsg)
	two, _ := c.appendBatch(nil, []*Message{msgs[0], bigMsg})
	if n := len(two) - len(one) - len(big); n != 2 {
		t.Errorf("a message of %d bytes took %d bytes besides its encoding", len(big), n)
	}
	if got, err := c.decodeBatch(two, nil, nil); err != nil || len(got) != 2 || len(got[1].Actions[0].Value) != 300 {
		t.Errorf("decoding a batch with a long message: %v", err)
	}
	if _, err := (BinaryCodec{MaxMessageSize: len(one)}).appendBatch(nil, msgs[:1]); err != nil {
		t.Errorf("a batch at the cap: %v", err)
	}
	if _, err := (BinaryCodec{MaxMessageSize: len(one)}).appendBatch(nil, msgs[:2]); err == nil {
		t.Error("encoded a batch over the cap")
	}
	if _, err := c.appendBatch(nil, []*Message{msgs[0], {Event: 99}}); err == nil {
		t.Error("encoded a batch with an unknown event")
	}
}

func TestBinaryCodecRejectsMalformedBatch(t *testing.T) {
	var c BinaryCodec
	good, _ := c.appendBatch(nil, sampleMessages()[:3])
	for i := range good { // every truncation fails cleanly
		if _, err := c.decodeBatch(good[:i], nil, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", i, err)
		}
	}
	single, _ := c.AppendMessage(nil, sampleMessages()[0])
	inner := append([]byte{0xF5, 'T', 'S', 2, 1, byte(len(single))}, single...)
	inner[6+3] = 9 // the inner message's format version
	cases := map[string]struct {
		c    BinaryCodec
		data []byte
	}{
		"single message": {c, single},
		"empty":          {c, []byte{0xF5, 'T', 'S', 2, 0}},
		"huge count":     {c, []byte{0xF5, 'T', 'S', 2, 0xff, 0xff, 0x03, 0}},
		"huge length":    {c, []byte{0xF5, 'T', 'S', 2, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		"bad inner":      {c, inner},
		"trailing":       {c, append(bytes.Clone(good), 0)},
		"message cap":    {BinaryCodec{MaxMessageSize: len(good) - 1}, good},
		"entries cap":    {BinaryCodec{MaxEntries: 2}, good},
	}
	for name, tc := range cases {
		if _, err := tc.c.decodeBatch(tc.data, nil, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzDecodeBatch: batches from other nodes never panic the decoder, and what decodes
// encodes back to a batch that decodes the same.
func FuzzDecodeBatch(f *testing.F) {
	msgs := sampleMessages()
	for i := 1; i <= len(msgs); i++ {
		b, _ := BinaryCodec{}.appendBatch(nil, msgs[:i])
		f.Add(b)
	}
	f.Add([]byte{0xF5, 'T', 'S', 2, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := BinaryCodec{MaxEntries: 1000}
		ms, err := c.decodeBatch(data, nil, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b, err := c.appendBatch(nil, ms)
		if err != nil {
			t.Fatalf("re-encoding a decoded batch: %v", err)
		}
		ms2, err := c.decodeBatch(b, nil, nil)
		if err != nil {
			t.Fatalf("decoding a re-encoded batch: %v", err)
		}
		// Compared without the arrays their chunks' sessions are in, then handed back
		// as the cluster hands them back once applied (release): left to the collector,
		// a chunk's fresh arrays (room for 1024 values) made each input allocate tens of
		// KB, and the target ran at a few hundred inputs a second.
		all := append(ms[:len(ms):len(ms)], ms2...)
		chunks := make([]*chunkArrays, len(all))
		for i, m := range all {
			chunks[i] = m.chunk
		}
		dropChunkArrays(all...)
		// The sessions left out for the limits are not encoded again, as in
		// FuzzDecodeMessage (testdata's 468702b0949c1869: a chunk in a batch whose
		// session's principal has a Java form past jserial's limits).
		for _, m := range ms {
			m.refused, m.refusedMore = nil, 0
		}
		if !reflect.DeepEqual(ms, ms2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", ms, ms2)
		}
		for i, m := range all {
			m.chunk = chunks[i]
			m.release()
		}
	})
}

// A chunk's Total travels where other messages have Version: a Version on a chunk (which
// has none) does not travel, and no other message carries a Total.
func TestBinaryCodecTotalOnlyInChunks(t *testing.T) {
	var c BinaryCodec
	for _, tc := range []struct{ in, want Message }{
		{Message{Event: EventAllSessionData, Total: 7, Version: 3}, Message{Event: EventAllSessionData, Total: 7}},
		{Message{Event: EventAllSessionData, Total: -1}, Message{Event: EventAllSessionData}},
		{Message{Event: EventDelta, Total: 7, Version: 3}, Message{Event: EventDelta, Version: 3}},
	} {
		data, err := c.AppendMessage(nil, &tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeMessage(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != tc.want.Total || got.Version != tc.want.Version {
			t.Errorf("%+v decoded as Total %d Version %d, want %d %d", tc.in, got.Total, got.Version, tc.want.Total, tc.want.Version)
		}
	}
}

// A received chunk's sessions are decoded into arrays the cluster hands back once the
// chunk is applied: released, they hold nothing of the chunk, and the next chunks
// decoded (into the same arrays, when the pool gives them back) are complete.
func TestChunkArraysReleased(t *testing.T) {
	var c BinaryCodec
	chunk := func(k int) *Message {
		m := &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState}
		for i := range 3 + k {
			m.Sessions = append(m.Sessions, SessionState{ID: fmt.Sprintf("S%d-%d", k, i), Version: uint64(i),
				Attributes: []NamedValue{{Name: "k", Value: []byte{byte(k), byte(i)}}, {Name: "other", Value: []byte{}}},
				Notes:      []NamedValue{{Name: "n", Value: []byte("x")}}, Listeners: []string{"l"}})
		}
		return m
	}
	for k := range 5 {
		want := chunk(k)
		data, err := c.AppendMessage(nil, want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeMessage(data)
		if err != nil {
			t.Fatal(err)
		}
		a := got.chunk
		if a == nil {
			t.Fatal("a chunk was not decoded into recyclable arrays")
		}
		if n0, n1 := got.Sessions[0].Attributes[0].Name, got.Sessions[1].Attributes[0].Name; unsafe.StringData(n0) != unsafe.StringData(n1) {
			t.Error("the sessions' attribute name is not one string")
		}
		got.chunk = nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("chunk %d:\n got  %+v\n want %+v", k, got, want)
		}
		got.chunk = a
		sessions := got.Sessions
		got.release()
		if got.Sessions != nil || got.chunk != nil {
			t.Error("a released message still has its sessions")
		}
		for i, s := range sessions {
			if !reflect.DeepEqual(s, SessionState{}) {
				t.Fatalf("released session %d still holds %+v", i, s)
			}
		}
		if len(a.values) != 0 || slices.ContainsFunc(a.values[:cap(a.values)], func(v NamedValue) bool { return v.Value != nil }) {
			t.Error("released attribute values are still held")
		}
	}
}

// The messages of a decoded batch share one array of actions: each one's slice ends at
// its own last action, so appending to it does not overwrite the next message's.
func TestDecodeBatchActionsDoNotOverlap(t *testing.T) {
	set := func(name string) Action {
		return Action{Type: ActionAttribute, Op: OpSet, Name: name, Value: []byte(name)}
	}
	in := []*Message{
		{Event: EventDelta, Context: "c", SessionID: "A", Actions: []Action{set("x"), set("y")}},
		{Event: EventDelta, Context: "c", SessionID: "B", Actions: []Action{set("x")}},
	}
	data, err := BinaryCodec{}.appendBatch(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := BinaryCodec{}.decodeBatch(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(out[0].Actions, set("z"))
	for i := range in {
		if !reflect.DeepEqual(out[i].Actions, in[i].Actions) || out[i].Context != "c" {
			t.Errorf("message %d decoded as %+v, want %+v", i, out[i], in[i])
		}
	}
}

// Counts nested in one another's first element (a batch's messages, the first message's
// sessions, the first session's attributes) each claimed all the bytes left, and each
// level allocated for its claim before the next one failed: 65 times the input. What the
// counts of a batch allocate ahead of their elements is now bounded by allocFactor times
// its length, and the densest streams the encoder writes still decode.
func TestBatchNestedCountsBounded(t *testing.T) {
	const size = 1 << 20
	ff := func(n int) []byte { return bytes.Repeat([]byte{0xFF}, n) } // no valid field starts with it
	// The first message: a chunk announcing a session per minSession bytes left, the
	// first of which announces an attribute per 2 bytes left.
	msg := append(bytes.Clone(binaryMagic), byte(EventAllSessionData), 0, 0, 0, 0, 0, flagSessions)
	// Each count a 3-byte uvarint; the session: id, times, flags, version, auth type.
	msg = binary.AppendUvarint(msg, uint64((size-len(msg)-3)/minSession))
	msg = append(msg, 0, 0, 0, 0, 0, 0, 0)
	msg = binary.AppendUvarint(msg, uint64((size-len(msg)-3)/2))
	msg = append(msg, ff(size-len(msg))...)
	data := append(bytes.Clone(batchMagic), binary.AppendUvarint(nil, uint64(size/minBatchedMessage))...)
	data = binary.AppendUvarint(data, uint64(len(msg)))
	data = append(data, msg...)
	c := BinaryCodec{}
	var err error
	alloc := testutil.Allocated(func() { _, err = c.decodeBatch(data, nil, nil) })
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoded: %v", err)
	}
	if limit := uint64(32*len(data) + 1<<20); alloc > limit { // allocFactor
		t.Errorf("a batch of %d KiB allocated %d MiB, more than %d MiB", len(data)>>10, alloc>>20, limit>>20)
	}

	// The densest valid streams: a chunk of one session holding attributes of empty
	// names and values (2 bytes each, 40 as a NamedValue); a batch of empty messages.
	attrs := make([]NamedValue, size/2)
	for i := range attrs {
		attrs[i].Value = []byte{}
	}
	dense := []*Message{{Event: EventAllSessionData, Sessions: []SessionState{{Attributes: attrs}}}}
	empty := make([]*Message, size/minBatchedMessage)
	for i := range empty {
		empty[i] = &Message{Event: EventCreated}
	}
	for name, msgs := range map[string][]*Message{"attributes": dense, "messages": empty} {
		b, err := c.appendBatch(nil, msgs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.decodeBatch(b, nil, nil)
		if err != nil || len(got) != len(msgs) {
			t.Errorf("%s: %d bytes: %v", name, len(b), err)
		}
		// All read (the whole stream decoded), held as one: they all have the name "",
		// whose last value a session keeps (TestBinaryCodecKeepsTheLastValueOfAName).
		if name == "attributes" && err == nil && len(got[0].Sessions[0].Attributes) != 1 {
			t.Errorf("%d attributes decoded, want 1 (%d of one name)", len(got[0].Sessions[0].Attributes), len(attrs))
		}
	}
}

// FuzzParseCut: probe messages (cut.go) from other nodes never panic the parser, and
// what it accepts encodes back to the same bytes.
func FuzzParseCut(f *testing.F) {
	id := channel.UniqueID{1, 2, 3}
	for _, b := range [][]byte{appendCut(nil, cutProbe, id, false), appendCut(nil, cutPing, id, false), appendCut(nil, cutCheck, id, false),
		appendCut(nil, cutResult, id, true), appendCut(nil, cutResult, id, false)} {
		f.Add(b[len(cutMagic):])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = append(bytes.Clone(cutMagic), data...)
		kind, id, reached, err := parseCut(data)
		if err != nil {
			return
		}
		if back := appendCut(nil, kind, id, reached); !bytes.Equal(back, data) {
			t.Fatalf("%x parsed as %d %x %v, which encodes as %x", data, kind, id, reached, back)
		}
	})
}

// TestBinaryCodecStamps: a session's stamps travel only when the donor was asked
// (stamped), the tombstones of at most maxTombs removals, and never with a removal's record.
func TestBinaryCodecStamps(t *testing.T) {
	var c BinaryCodec
	chunk := func(s SessionState) []byte {
		b, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, SessionID: idSessionState, Sessions: []SessionState{s}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	attrs := []NamedValue{{Name: "k", Value: []byte("v"), version: 3, origin: 4}}
	got, err := c.DecodeMessage(chunk(SessionState{ID: "S", Version: 3, Attributes: attrs, tombs: []tomb{{name: "t", st: stamp{2, 1}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Sessions[0]; s.stamped || s.Attributes[0].version != 0 || s.tombs != nil {
		t.Errorf("not asked, the stamps travelled: %+v", s)
	}
	var many []tomb
	for i := range maxTombs + 1 {
		many = append(many, tomb{name: fmt.Sprint("t", i), st: stamp{1, 1}})
	}
	if _, err := c.DecodeMessage(chunk(SessionState{ID: "S", stamped: true, tombs: many})); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d tombstones: %v", len(many), err)
	}
	if _, err := c.DecodeMessage(chunk(SessionState{ID: "S", stamped: true, tombs: many[:maxTombs]})); err != nil {
		t.Errorf("%d tombstones: %v", maxTombs, err)
	}
	removal := chunk(SessionState{ID: "S", Version: 1, Removed: true, stamped: true})
	if got, err := c.DecodeMessage(removal); err != nil || got.Sessions[0].stamped {
		t.Errorf("a removal's record was sent stamped: %v", err)
	}
}
