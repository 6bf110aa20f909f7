package replmap

import (
	"errors"
	"fmt"
	"math"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// msgType is a MapMessage type (AbstractReplicatedMap.MapMessage.MSG_*).
type msgType int32

// The message types, with Java's values.
const (
	msgBackup         msgType = 1  // MSG_BACKUP: key and value for the backup member
	msgRetrieveBackup msgType = 2  // MSG_RETRIEVE_BACKUP: RPC asking the backup for the value
	msgProxy          msgType = 3  // MSG_PROXY: key, primary and backup, no value
	msgRemove         msgType = 4  // MSG_REMOVE: the key is gone
	msgState          msgType = 5  // MSG_STATE: RPC asking for the entries (LazyReplicatedMap)
	msgStart          msgType = 6  // MSG_START: RPC, the sender's map is ready
	msgStop           msgType = 7  // MSG_STOP: the sender's map stopped
	msgInit           msgType = 8  // MSG_INIT: RPC, the sender's map starts
	msgCopy           msgType = 9  // MSG_COPY: key and value for every member (ReplicatedMap)
	msgStateCopy      msgType = 10 // MSG_STATE_COPY: RPC asking for the entries (ReplicatedMap)
	msgAccess         msgType = 11 // MSG_ACCESS: the entry was used, no change
	msgNotifyMember   msgType = 12 // MSG_NOTIFY_MAPMEMBER: the sender is now the primary
	msgPing           msgType = 13 // MSG_PING: RPC heartbeat, answered with the map's state
)

var typeNames = [...]string{"UNKNOWN", "MSG_BACKUP", "MSG_RETRIEVE_BACKUP", "MSG_PROXY", "MSG_REMOVE",
	"MSG_STATE", "MSG_START", "MSG_STOP", "MSG_INIT", "MSG_COPY", "MSG_STATE_COPY", "MSG_ACCESS",
	"MSG_NOTIFY_MAPMEMBER", "MSG_PING"}

// String returns Java's name of t (MapMessage.getTypeDesc), "UNKNOWN" for other values.
func (t msgType) String() string {
	if t < msgBackup || t > msgPing {
		return typeNames[0]
	}
	return typeNames[t]
}

// Class names and serialVersionUIDs.
const (
	messageClass     = "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$MapMessage"
	messageSUID      = 1
	stateClass       = "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$State"
	memberArrayClass = "[Lorg.apache.catalina.tribes.Member;"
	memberArraySUID  = 6828688949895838012
	memberSignature  = "Lorg/apache/catalina/tribes/Member;"
)

// rpcEnvelope is what an RpcMessage adds to the MapMessage it carries, besides the rpc
// id: the stream header, class descriptors, flag and uuid (about 150 bytes), rounded up.
const rpcEnvelope = 1024

// Limits of a decoded MapMessage. A message carries at most DefaultMaxMessageBytes
// (Config.MaxMessageBytes); its member array at most maxNodes members.
const (
	DefaultMaxMessageBytes = 64 << 20
	maxNodes               = 1024
	maxDepth               = 16
	maxHandles             = 4 * maxNodes
)

// ErrBadMessage is wrapped by every error about a MapMessage that cannot be decoded.
var ErrBadMessage = errors.New("replmap: malformed MapMessage")

// message is AbstractReplicatedMap$MapMessage (Serializable, serialVersionUID 1). Key,
// Value and DiffValue are byte arrays on the wire: Key and Value each hold a separate
// Java serialization stream (keydata, valuedata), nil for Java's null.
type message struct {
	MapID     []byte  // mapId: the map name in ISO-8859-1
	Type      msgType // msgtype
	Diff      bool    // diff: DiffValue holds ReplicatedMapEntry.getDiff() bytes
	Key       []byte  // keydata
	Value     []byte  // valuedata
	DiffValue []byte  // diffvalue
	// Primary is the primary member (nil for null).
	Primary *channel.Member
	// Nodes are the backup members: nil for Java's null, an empty non-nil slice for an
	// empty array.
	Nodes []channel.Member
	// Stamp names the write of the value (stamp.go): sent in diffvalue, and read from
	// it, by Go nodes only; 0 for none.
	Stamp uint64
	// Clock is the write's per-key Lamport clock (stamp.go), carried beside Stamp; 0 for
	// unknown.
	Clock uint64
	// Unordered, with Clock, is a write whose clock orders nothing at its receivers (a
	// Put that sent no MSG_REMOVE: stamp.go); they hear of the clock and hold the
	// entry's as unknown.
	Unordered bool
	// refused, set by stateList, is why received must not apply this entry of a state
	// list (never sent).
	refused error
}

// codec writes messages with one MemberImpl serialVersionUID and reads them with limits.
type codec struct {
	msg, member, array *jserial.ClassDesc
	state              *jserial.ClassDesc
	dec                jserial.DecoderConfig
	// limits are Config.Limits (zero fields: defaults), for the state list.
	limits jserial.DecoderConfig
}

// withLimits sets the limits of the state list's decoding (Config.Limits) and returns c.
func (c *codec) withLimits(l jserial.DecoderConfig) *codec {
	c.limits = l
	return c
}

func newCodec(memberSUID int64, maxBytes int) *codec {
	return &codec{
		msg: &jserial.ClassDesc{Name: messageClass, SUID: messageSUID, Flags: jserial.SCSerializable,
			Fields: []jserial.Field{ // JOS order: primitives, then objects, each sorted by name
				{Type: 'Z', Name: "diff"},
				{Type: 'I', Name: "msgtype"},
				{Type: '[', Name: "diffvalue", Signature: "[B"},
				{Type: '[', Name: "keydata", Signature: "[B"},
				{Type: '[', Name: "mapId", Signature: "[B"},
				{Type: '[', Name: "nodes", Signature: "[" + memberSignature},
				{Type: 'L', Name: "primary", Signature: memberSignature},
				{Type: '[', Name: "valuedata", Signature: "[B"},
			}},
		member: jmember.Desc(memberSUID),
		array:  &jserial.ClassDesc{Name: memberArrayClass, SUID: memberArraySUID, Flags: jserial.SCSerializable},
		state:  jserial.NewEnumDesc(stateClass),
		dec: jserial.DecoderConfig{MaxDepth: maxDepth, MaxHandles: maxHandles, MaxArrayLen: maxBytes,
			MaxBytes: int64(maxBytes)},
	}
}

// memberObjects makes the objects of the members of one stream, each member once
// (by its wire bytes).
type memberObjects struct {
	keys  []string // the first few members, searched in order
	objs  []*jserial.Object
	byKey map[string]*jserial.Object // the others
	buf   []byte
}

// memberObjectsListed is how many members memberObjects keeps in its lists.
const memberObjectsListed = 8

func (mo *memberObjects) object(desc *jserial.ClassDesc, mb *channel.Member) *jserial.Object {
	mo.buf = wire.AppendMember(mo.buf[:0], mb)
	for i, k := range mo.keys {
		if k == string(mo.buf) {
			return mo.objs[i]
		}
	}
	if o, ok := mo.byKey[string(mo.buf)]; ok {
		return o
	}
	o := jmember.Object(desc, mb)
	if len(mo.keys) < memberObjectsListed {
		mo.keys, mo.objs = append(mo.keys, string(mo.buf)), append(mo.objs, o)
	} else {
		if mo.byKey == nil {
			mo.byKey = map[string]*jserial.Object{}
		}
		mo.byKey[string(mo.buf)] = o
	}
	return o
}

// bytesOrNil gives Java's null for a nil slice.
func bytesOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// object returns m as the Java object.
func (c *codec) object(m *message) (*jserial.Object, error) {
	var mo memberObjects
	return c.objectWith(m, &mo)
}

// objectWith is object, with the member objects of mo: a member written twice in one
// stream is one object with back-references, as Java writes the MemberImpl instances
// its entries share (in a state list, every entry names one of a few members).
func (c *codec) objectWith(m *message, mo *memberObjects) (*jserial.Object, error) {
	if len(m.Nodes) > maxNodes {
		return nil, fmt.Errorf("replmap: %d backup nodes, at most %d", len(m.Nodes), maxNodes)
	}
	o, err := jserial.NewObject(c.msg)
	if err != nil {
		return nil, err
	}
	var primary, nodes any
	if m.Nodes != nil {
		a := &jserial.Array{Class: c.array, Elems: make([]any, len(m.Nodes))}
		for i := range m.Nodes {
			a.Elems[i] = mo.object(c.member, &m.Nodes[i])
		}
		nodes = a
	}
	if m.Primary != nil {
		primary = mo.object(c.member, m.Primary)
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"diff", m.Diff}, {"msgtype", int32(m.Type)}, {"diffvalue", bytesOrNil(stampBytes(m))},
		{"keydata", bytesOrNil(m.Key)}, {"mapId", bytesOrNil(m.MapID)}, {"nodes", nodes},
		{"primary", primary}, {"valuedata", bytesOrNil(m.Value)}} {
		if err := o.SetField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// marshal returns m as a serialization stream, the payload of a plain channel message.
func (c *codec) marshal(m *message) ([]byte, error) {
	o, err := c.object(m)
	if err != nil {
		return nil, err
	}
	return jserial.Marshal(o)
}

// unmarshal decodes a serialization stream holding one MapMessage.
func (c *codec) unmarshal(b []byte) (*message, error) {
	if int64(len(b)) > c.dec.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadMessage, len(b), c.dec.MaxBytes)
	}
	v, err := jserial.UnmarshalConfig(b, c.dec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return decodeMessage(v)
}

// isMessage reports whether v is an object of MapMessage's class, whatever its content.
func isMessage(v any) bool {
	o, ok := v.(*jserial.Object)
	return ok && o.Class != nil && o.Class.Name == messageClass
}

// decodeMessage reads a MapMessage from a decoded value (a message, an RPC payload or an
// element of a state list).
func decodeMessage(v any) (*message, error) {
	return decodeMessageWith(v, nil)
}

// decodeMessageWith is decodeMessage, reading each member object once: members maps the
// objects decoded so far to their members (nil: those of this message only). The entries
// of a state list refer to a few member objects, and share their members' bytes; the
// nodes of one message may all refer to one object (5 bytes each), which decoded anew at
// each would make a small message allocate thousands of times its size.
func decodeMessageWith(v any, members map[*jserial.Object]wire.Member) (*message, error) {
	if !isMessage(v) {
		return nil, fmt.Errorf("%w: not a %s but %T", ErrBadMessage, messageClass, v)
	}
	o := v.(*jserial.Object)
	if o.Class.SUID != messageSUID {
		return nil, fmt.Errorf("%w: serialVersionUID %d, want %d", ErrBadMessage, o.Class.SUID, messageSUID)
	}
	m := &message{}
	var ok bool
	field := func(name string) any { f, _ := o.Field(name); return f }
	if m.Diff, ok = field("diff").(bool); !ok {
		return nil, fmt.Errorf("%w: diff is %T", ErrBadMessage, field("diff"))
	}
	t, ok := field("msgtype").(int32)
	if !ok {
		return nil, fmt.Errorf("%w: msgtype is %T", ErrBadMessage, field("msgtype"))
	}
	m.Type = msgType(t)
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"mapId", &m.MapID}, {"keydata", &m.Key}, {"valuedata", &m.Value}, {"diffvalue", &m.DiffValue}} {
		switch x := field(f.name).(type) {
		case nil:
		case []byte:
			*f.dst = x
		default:
			return nil, fmt.Errorf("%w: %s is %T", ErrBadMessage, f.name, x)
		}
	}
	if members == nil {
		members = map[*jserial.Object]wire.Member{}
	}
	member := func(v any) (wire.Member, error) {
		o, ok := v.(*jserial.Object)
		if mbr, seen := members[o]; ok && seen {
			return mbr, nil
		}
		mbr, err := jmember.Decode(v)
		if err == nil && ok {
			members[o] = mbr
		}
		return mbr, err
	}
	if p := field("primary"); p != nil {
		mbr, err := member(p)
		if err != nil {
			return nil, fmt.Errorf("%w: primary: %w", ErrBadMessage, err)
		}
		m.Primary = &mbr
	}
	switch a := field("nodes").(type) {
	case nil:
	case *jserial.Array:
		if len(a.Elems) > maxNodes {
			return nil, fmt.Errorf("%w: %d nodes", ErrBadMessage, len(a.Elems))
		}
		m.Nodes = make([]wire.Member, 0, len(a.Elems))
		for i, e := range a.Elems {
			mbr, err := member(e)
			if err != nil {
				return nil, fmt.Errorf("%w: nodes[%d]: %w", ErrBadMessage, i, err)
			}
			m.Nodes = append(m.Nodes, mbr)
		}
	default:
		return nil, fmt.Errorf("%w: nodes is %T", ErrBadMessage, a)
	}
	m.Stamp, m.Clock, m.Unordered = stampOf(m)
	return m, nil
}

// value decodes the stream in keydata or valuedata (nil for none) within MaxMessageBytes
// and Config.Limits (zero fields: jserial's defaults), as the state list is: a key or
// value beyond them is refused with an error wrapping ErrBadMessage and jserial.ErrLimit
// (TestValueBeyondLimitsRefused).
func (c *codec) value(b []byte) (any, error) {
	cfg := c.limits
	cfg.MaxBytes = c.dec.MaxBytes
	return c.valueWith(b, cfg)
}

// valueWith is value with the limits of cfg.
func (c *codec) valueWith(b []byte, cfg jserial.DecoderConfig) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	v, err := jserial.UnmarshalConfig(b, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	return v, nil
}

// handlesPerEntry bounds the stream objects (jserial handles) of one entry of a state
// list: its MapMessage, key and value streams, map id, member array and the members not
// shared with other entries (one per backup node written anew).
const handlesPerEntry = 32

// stateList decodes the value of a STATE reply: an ArrayList of MapMessages. It returns
// at most limit of them; a longer list gives those and an error wrapping ErrLimit. The
// decoding itself is bounded by MaxMessageBytes and Config.Limits: their MaxHandles, or
// by default jserial's default or handlesPerEntry per entry of limit, whichever is more.
func (c *codec) stateList(b []byte, limit int) ([]*message, error) {
	cfg := c.limits
	cfg.MaxBytes = c.dec.MaxBytes
	if cfg.MaxHandles == 0 {
		cfg.MaxHandles = max(jserial.DefaultMaxHandles, handlesPerEntry*min(limit, math.MaxInt32/handlesPerEntry))
	}
	v, err := c.valueWith(b, cfg)
	if err != nil || v == nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: state is %T, not an ArrayList", ErrBadMessage, v)
	}
	var limitErr error
	if len(list) > limit {
		limitErr = fmt.Errorf("%w: state of %d entries, at most %d (MaxEntries)", ErrLimit, len(list), limit)
		list = list[:limit]
	}
	out := make([]*message, 0, len(list))
	members := map[*jserial.Object]wire.Member{}
	entries := map[*jserial.Object]bool{}
	streams := map[*byte]int{} // the key and value arrays of the entries, to the entry's index
	for i, e := range list {
		// An entry the list holds again (a back-reference, 5 bytes) is left out: a donor
		// lists each entry once, and each would decode its value anew.
		if o, ok := e.(*jserial.Object); ok {
			if entries[o] {
				continue
			}
			entries[o] = true
		}
		m, err := decodeMessageWith(e, members)
		if err != nil {
			return nil, fmt.Errorf("state entry %d: %w", i, err)
		}
		// An entry whose key or value is an array another entry already holds (a
		// back-reference, 5 bytes) is refused: a donor serializes each entry's key and
		// value into arrays of their own, and each entry would decode and copy it anew.
		for _, b := range [][]byte{m.Key, m.Value} {
			if len(b) == 0 || m.refused != nil {
				continue
			}
			if j, seen := streams[&b[0]]; seen {
				m.refused = fmt.Errorf("%w: state entry %d shares its key or value array with entry %d", ErrBadMessage, i, j)
			} else {
				streams[&b[0]] = i
			}
		}
		out = append(out, m)
	}
	return out, limitErr
}
