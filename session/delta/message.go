package delta

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// Event is the type of a session message, with the values of Tomcat's SessionMessage
// EVT_* constants. They travel on the wire and must not change.
type Event int32

// The nine session events.
const (
	// EventCreated (1): a session was created on the sending node.
	EventCreated Event = 1
	// EventExpired (2): a session expired or was invalidated on the sending node.
	EventExpired Event = 2
	// EventAccessed (3): a session was used on the sending node without being changed;
	// the receivers touch their copy and mark it non-primary.
	EventAccessed Event = 3
	// EventGetAllSessions (4): a starting node asks for every session (state transfer).
	EventGetAllSessions Event = 4
	// EventAllSessionData (12): one chunk of sessions, the answer to EventGetAllSessions.
	EventAllSessionData Event = 12
	// EventDelta (13): the changes one request made to a session.
	EventDelta Event = 13
	// EventTransferComplete (14): the last message of a state transfer; its timestamp is
	// the time the donor began reading its sessions.
	EventTransferComplete Event = 14
	// EventChangeSessionID (15): a session got a new id (fixation protection, jvmRoute
	// binding).
	EventChangeSessionID Event = 15
	// EventNoContextManager (16): the answer to EventGetAllSessions from a node that has
	// no manager for the context (or, in this package, one that is itself still waiting
	// for its own state transfer).
	EventNoContextManager Event = 16
)

// String returns Tomcat's constant name, e.g. "EVT_SESSION_DELTA".
func (e Event) String() string {
	switch e {
	case EventCreated:
		return "EVT_SESSION_CREATED"
	case EventExpired:
		return "EVT_SESSION_EXPIRED"
	case EventAccessed:
		return "EVT_SESSION_ACCESSED"
	case EventGetAllSessions:
		return "EVT_GET_ALL_SESSIONS"
	case EventAllSessionData:
		return "EVT_ALL_SESSION_DATA"
	case EventDelta:
		return "EVT_SESSION_DELTA"
	case EventTransferComplete:
		return "EVT_ALL_SESSION_TRANSFERCOMPLETE"
	case EventChangeSessionID:
		return "EVT_CHANGE_SESSION_ID"
	case EventNoContextManager:
		return "EVT_ALL_SESSION_NOCONTEXTMANAGER"
	}
	return "EVT_" + strconv.Itoa(int(e))
}

// Valid reports whether e is one of the nine events.
func (e Event) Valid() bool {
	switch e {
	case EventCreated, EventExpired, EventAccessed, EventGetAllSessions, EventAllSessionData,
		EventDelta, EventTransferComplete, EventChangeSessionID, EventNoContextManager:
		return true
	}
	return false
}

// The Version of an EventGetAllSessions holds these bits (BinaryCodec only).
const (
	// AskRemovals asks the member for the records of the sessions it removed
	// (SessionState.Removed) after its sessions. A node of an earlier version ignores it
	// and sends none (one of the version before AskStamps sends none when AskStamps is
	// set too).
	AskRemovals = 1
	// AskStamps asks the member to send, with each session, the stamps that order
	// concurrent changes of its attributes (see "Concurrent requests on two nodes" in the
	// package documentation). A node of an earlier version ignores it and sends none:
	// its sessions' values then count as older than any Go node's change.
	AskStamps = 2
	// AskRecent asks the member for the sessions it sent a message about (created,
	// changed, used or renamed) in the last Version>>AskAgeShift milliseconds only, and
	// the records of the removals and renames it sent in that time: a joiner's catch-up
	// after its state transfer (docs/failover.md). A Go node of an earlier version ignores
	// it and sends every session after its ACK, which the joiner no longer waits for.
	AskRecent = 4
	// AskAgeShift is where the age of an AskRecent request starts in its Version.
	AskAgeShift = 8
	// AskBorn asks the member to send, with each session made again under a removed id
	// (Manager.CreateWithID), the version of that removal, so that the record of the
	// removal, sent too, does not remove it (TestJoinerKeepsSessionJustMadeAgain). A node
	// of an earlier version ignores it and sends none.
	AskBorn = 8
	// AskMetaStamps asks the member to send, with each session, the stamps of its parts
	// that are not attributes (principal, auth type, max inactive interval, isnew, notes,
	// listeners: stamp_meta.go), so that an older change of them arriving after the
	// transfer does not apply (TestTransferredMetaKeepsItsStamps). A node of an earlier
	// version ignores it and sends none: those parts then count as stamped zero.
	AskMetaStamps = 16
	// AskEcho asks the member to put the request's UniqueID in every message of its
	// answer (its chunks, its EVT_ALL_SESSION_TRANSFERCOMPLETE or its
	// EVT_ALL_SESSION_NOCONTEXTMANAGER), so that the asker tells the answer to this
	// request from a late one to an earlier request to that member (one whose wait
	// ended: a joiner's catch-up request that timed out, asked again a second later).
	// A joiner's catch-up, and with BinaryCodec every request for every session (a
	// transfer's, a repair's, a refresh's), gives each request an id of its own, starting
	// with "GET-ALL", and ignores an answer echoing another
	// (TestCatchUpIgnoresALateAnswerToAnEarlierRequest,
	// TestRefetchIgnoresALateAnswerToAnEarlierRequest).
	// A node of an earlier version ignores it and echoes none: its answers are taken for
	// the current request's.
	AskEcho = 32
	// AskBack, with AskRecent, says the asker's view dropped this member and lists it
	// again (a member back after leaving, catchup_back.go): the member, which may have
	// kept the asker listed meanwhile and so seen nothing leave, asks it back for the
	// sessions it sent a message about in that time, unless it asks or asked it already
	// (TestMemberBackInOneViewOnlyGetsTheRenames). It also asks for the sessions the
	// member took another node's change of in that time, a node that may have left for
	// good since (TestMemberBackGetsTheChangesOfANodeThatLeftMeanwhile). A node of an
	// earlier version ignores it.
	AskBack = 64
	// AskBackReply, with AskBack, says the asker asks the member back because the
	// member's own request asked it to (AskBack): the member, which asks the asker
	// already, answers it but does not ask it back again. Two nodes whose requests each
	// took more than a second to arrive asked each other back for as long as both ran
	// (TestSlowAskBacksDoNotAskEachOtherForEver). A node of an earlier version ignores
	// it, and asks the asker back as for AskBack alone.
	AskBackReply = 128
	// AskLeft asks the member to send, with each session, the ids a binder's renames
	// (the route alone changes) took it away from (at most eight, of 2 KiB in all:
	// rename.go's noteLeft, limits.go's maxLeftBytes),
	// so that this node's binder, renaming the session back to one of them, raises its
	// version though it holds no record of the rename away
	// (TestRenameBackByAJoinerMissedKeptByRefresh). Only in a request without AskRecent,
	// whose bits from AskAgeShift up are the age: a catch-up asks with AskRecentLeft. A
	// node of an earlier version ignores it and sends none. The request's NewID asks for
	// the renames' times too (leftAtAsk).
	AskLeft = 1 << 62
	// AskRecentLeft, in a catch-up's request (AskRecent), asks for what AskLeft asks in
	// another request, whose bit is the age's there. It is AskRemovals' bit, which a
	// catch-up needs not: its answer carries the records of the removals and renames
	// since its age whatever that bit says. So a node that renames a session back after
	// it took the session from a catch-up's answer (a joiner's, a member back's) raises
	// its version too (TestRenameBackByANodeThatCaughtUpMissedKeptByCatchUp). A Go node
	// of an earlier version sends no ids, and its answer is taken as any other
	// (TestCatchUpFromAnOlderMemberWithoutLeftIDs; one of the first versions with
	// AskRecent sends every record it holds, as to a refresh).
	AskRecentLeft = AskRemovals
)

// leftAtAsk, as the NewID of an EventGetAllSessions that asks for the left ids (AskLeft,
// AskRecentLeft), asks for their times too (SessionState.leftAt, BinaryCodec's
// flagLeftAt), so that two nodes merging each other's lists keep the same ids
// (mergeLeft): a catch-up's request has no Version bit free. A node of an earlier version
// ignores it and sends no times; Tomcat's format carries no NewID in a request.
const leftAtAsk = "LEFT-AT"

// askLeftAt is the bit of the ask an answer follows (askOf) that says the request asked
// for the left ids' times (leftAtAsk); a request's own Version bit there means nothing.
const askLeftAt = 1 << 61

// Session ids Tomcat puts in messages that are not about one session.
const (
	idGetAll       = "GET-ALL"
	idSessionState = "SESSION-STATE"
	idTransferred  = "SESSION-STATE-TRANSFERRED"
	idNoContext    = "NO-CONTEXT-MANAGER"
	// idNotReady is the session id of an EVT_ALL_SESSION_NOCONTEXTMANAGER from a node
	// whose manager of the context is starting (not started yet, or waiting for its own
	// state transfer), where idNoContext would say it has none: its UniqueID may be the
	// request's (AskEcho). Tomcat, and a Go node of an earlier version, read the event
	// alone.
	idNotReady      = "NOT-READY"
	uniqueNotReady  = "NOT-READY"
	uniqueNoContext = "NO-CONTEXT"
)

// replyID returns the UniqueID of a message answering req, an EVT_GET_ALL_SESSIONS:
// req's own when it asks for it (AskEcho), else def.
func replyID(req *Message, def string) string {
	if req.Version&AskEcho != 0 {
		return req.UniqueID
	}
	return def
}

// echoed reports whether id, an answer's UniqueID, is the id of a request it answers
// (AskEcho; a joiner's catch-up request has one of its own, askID) rather than one a
// node of an earlier version, or one not asked to echo, gives every answer.
func echoed(id string) bool { return strings.HasPrefix(id, idGetAll) }

// Message is one session message (Tomcat's SessionMessageImpl) in decoded form. Which of
// the event-specific fields are set depends on Event. A MessageCodec turns it into bytes.
type Message struct {
	Event Event
	// Context is the name of the manager the message is for, e.g. "localhost#/app".
	// Empty means every manager on the channel, unless EmptyContext is set.
	Context string
	// EmptyContext says that an empty Context is the name "" itself, not "every
	// manager": Tomcat names the ROOT application's manager "" when its Cluster is inside
	// a Host, and tells that name (to that manager only) from a message with no name
	// (null: to every manager). Only JavaCodec carries it; no Go manager is named "", so
	// such a message reaches none (TestJavaCodecEmptyContextNameIsAContext).
	EmptyContext bool
	// SessionID is the session's id, or a marker such as "GET-ALL" for events that are not
	// about one session.
	SessionID string
	// UniqueID is Tomcat's message identifier (informational; Go nodes leave it empty or
	// put a reason in it), but for a request for every session with BinaryCodec (a
	// joiner's catch-up's, transfer's, a repair's, a refresh's) and the messages of its
	// answer: they carry the request's own id (AskEcho).
	UniqueID string
	// Timestamp is the sender's wall clock in milliseconds since the epoch when it built
	// the message; for EventTransferComplete and EventAllSessionData it is the time the
	// donor started reading its sessions. Messages queued during a state transfer that are
	// older than the transfer-complete timestamp are dropped.
	Timestamp int64
	// Version is the session's change counter after this message (EventDelta), or after
	// a rename back to an id the session was renamed away from, or to an explicit id of
	// another base (EventChangeSessionID, BinaryCodec: the renaming node raised it so
	// that the copies renamed back are newer than the record of the rename away; a rename
	// sent again carries the last version a rename raised the session to; 0 for any other
	// rename), or the donor's counter
	// (0 otherwise). It refines the stale-message rule of a transfer. In an
	// EventGetAllSessions, the bits AskRemovals and AskStamps ask for the records of
	// removed sessions and for attribute stamps, AskRecent for the sessions sent about
	// lately (with their age above AskAgeShift), AskEcho the request's UniqueID in its
	// answer, AskLeft (without AskRecent; AskRecentLeft with it) the ids binder's renames
	// took each session away from; other bits are ignored. In an EventTransferComplete answering a request with
	// AskStamps (BinaryCodec), a Go donor puts 1 + the number of the sessions it sent that
	// carried a change refused before any send on it (stamped with origin 0, as every
	// change of a donor whose channel does not tell its local member is), so that the
	// joiner asks one more member for every session only when there were some
	// (TestJoinerFromADonorWithoutIdentityAsksOnce); 0 from a node of an earlier version,
	// whose joiner finds them by their stamps.
	Version uint64

	// NewID is the new session id (EventChangeSessionID). In an EventGetAllSessions
	// asking for the ids binder's renames took each session away from (AskLeft,
	// AskRecentLeft), "LEFT-AT" asks for the times of those renames too (BinaryCodec
	// only; a node of an earlier version ignores it).
	NewID string
	// Actions are the changes of one request (EventDelta).
	Actions []Action
	// Sessions is one chunk of a state transfer (EventAllSessionData).
	Sessions []SessionState
	// Total is, in a chunk of a state transfer, how many sessions the donor held when it
	// started sending them (0: not told), so that the joiner sizes its session table
	// once instead of growing it chunk by chunk. BinaryCodec carries it where other
	// messages carry Version (EventAllSessionData has none: older Go nodes read it as
	// that and ignore it); Tomcat's format has no place for it.
	Total int

	// ownValues says that the action values were allocated by the decoder for this
	// message alone (JavaCodec's: converted from Java objects), not cut out of a received
	// buffer: a session keeps them without a copy. Several actions may share one.
	ownValues bool
	// kept: a received message kept for later (keepMsg), whose batch's arrays are not
	// reused (recvArrays).
	kept bool

	// chunk holds the arrays a received chunk was decoded into, which the cluster
	// recycles once the message is applied (nil for messages built otherwise).
	chunk *chunkArrays

	// refused are the sessions of a received chunk its decoder left out, each for a
	// field past the codec's limits (a value, a string, a principal's Java form): the
	// other sessions of the chunk are applied (TestTransferRefusesOnlyTheSessionPastLimits).
	// A donor's encoder sets it likewise for the sessions it left out of a chunk
	// (JavaCodec: a value its own Limits refuse).
	refused []refusedSession
	// refusedMore counts the sessions left out past the first maxRefusedNamed, which
	// refused does not hold: a hostile chunk of many sessions each with a principal's
	// Java form a few bytes long but past the Limits would otherwise cost a record of
	// each (TestChunkOfManyRefusedSessionsKeepsFewRecords).
	refusedMore int
}

// maxRefusedNamed bounds the sessions left out of a chunk that Message.refused names.
const maxRefusedNamed = 16

// leaveOut records the session id left out of the chunk m for why.
func (m *Message) leaveOut(id, why string) {
	if len(m.refused) >= maxRefusedNamed {
		m.refusedMore++
		return
	}
	m.refused = append(m.refused, refusedSession{id: id, why: why})
}

// refusedCount is the number of sessions left out of the chunk m.
func (m *Message) refusedCount() int { return len(m.refused) + m.refusedMore }

// refusedSession is a session of a state transfer chunk left out for a field past the
// codec's limits: its id (empty when the id itself was too long) and why.
type refusedSession struct {
	id, why string
}

// ActionType is what a delta action changes, with Tomcat's DeltaRequest TYPE_* values.
type ActionType uint8

// Action types.
const (
	ActionAttribute   ActionType = 0 // an attribute; Value is the ValueCodec's encoding
	ActionPrincipal   ActionType = 1 // the principal; Value is EncodePrincipal's output
	ActionIsNew       ActionType = 2 // the new flag; Value is one byte, 0 or 1
	ActionMaxInterval ActionType = 3 // max inactive interval; Value is a varint of seconds
	ActionAuthType    ActionType = 4 // the authentication type; Value is the UTF-8 string
	ActionListener    ActionType = 5 // a named session listener attached or detached; no Value
	ActionNote        ActionType = 6 // a note; Value is the UTF-8 string
)

// Names Tomcat gives to the actions that are not attributes or notes.
const (
	namePrincipal   = "__SET__PRINCIPAL__"
	nameIsNew       = "__SET__ISNEW__"
	nameMaxInterval = "__SET__MAXINTERVAL__"
	nameAuthType    = "__SET__AUTHTYPE__"
)

// String returns a lower-case name such as "attribute" or "maxinterval".
func (t ActionType) String() string {
	switch t {
	case ActionAttribute:
		return "attribute"
	case ActionPrincipal:
		return "principal"
	case ActionIsNew:
		return "isnew"
	case ActionMaxInterval:
		return "maxinterval"
	case ActionAuthType:
		return "authtype"
	case ActionListener:
		return "listener"
	case ActionNote:
		return "note"
	}
	return "type" + strconv.Itoa(int(t))
}

// Op is what an action does, with Tomcat's ACTION_* values.
type Op uint8

// Operations.
const (
	OpSet    Op = 0
	OpRemove Op = 1
)

// String returns "set" or "remove".
func (o Op) String() string {
	switch o {
	case OpSet:
		return "set"
	case OpRemove:
		return "remove"
	}
	return "op" + strconv.Itoa(int(o))
}

// Action is one recorded change (Tomcat's AttributeInfo in a DeltaRequest). Within one
// request a later action of the same type and name replaces the earlier one.
type Action struct {
	Type ActionType
	Op   Op
	// requeued: a pending action put back after its delta failed to replicate (restore),
	// not made again since; a delta arriving, a refresh or a repair drops it where another
	// node's change of its part replaces it (unsent.go, refresh_keep.go). It takes no
	// room: the struct's padding, as unsent.
	requeued bool
	// unsent: requeued, and no delta that carried it left this node (refused before any
	// send); it then gives way to another node's change at its version or later
	// (unsent.go).
	unsent bool
	Name   string
	// Value is the encoded value of a set; nil for OpRemove. See ActionType for the
	// encoding of each type. Values are never modified once recorded.
	Value []byte
}

// SessionState is a whole session in transferable form (one entry of
// EventAllSessionData). Attribute values are the ValueCodec's bytes.
type SessionState struct {
	ID string
	// CreationTime and LastAccessedTime are milliseconds since the epoch.
	CreationTime     int64
	LastAccessedTime int64
	// MaxInactive is the max inactive interval in seconds; <= 0 means never.
	MaxInactive int32
	IsNew       bool
	Version     uint64
	Principal   *Principal
	AuthType    string
	Attributes  []NamedValue
	Notes       []NamedValue
	Listeners   []string
	// Removed marks not a session but the record that the session ID named, up to
	// Version, was removed (invalidated, expired by its primary) under every route of
	// its id: a member sends these after its sessions when asked by a refresh
	// (Config.ClusterSize), and only with BinaryCodec. The other fields are zero.
	Removed bool
	// Renamed, with Removed, says that only ID went: the session lives on under another
	// id.
	Renamed bool

	// stamped: the attributes carry their stamps and tombs holds the session's recent
	// removals (a donor sets it when the joiner asked with AskStamps; BinaryCodec only).
	stamped bool
	tombs   []tomb
	// born: the version of the removal the session was made again above (Session.born),
	// sent when the joiner asked with AskBorn (BinaryCodec only); 0 if none.
	born uint64
	// meta: the stamps of the parts that are not attributes, sent when the joiner asked
	// with AskMetaStamps (BinaryCodec only)
	meta []metaStamp
	// left: the ids a binder's renames took the session away from (sessionExt.left),
	// oldest first, sent when the joiner asked with AskLeft (BinaryCodec only); leftAt:
	// their times (leftID.at), one for each, sent when it asked for them too (leftAtAsk);
	// nil from a member that sends none (leftOf times them by their place)
	left   []string
	leftAt []int64
	// owned: the values were allocated by the decoder for this message alone (JavaCodec's,
	// which several sessions may share), not cut out of a received buffer: a session keeps
	// them without a copy.
	owned bool
}

// NamedValue is a name and its encoded value.
type NamedValue struct {
	Name  string
	Value []byte

	// The stamp of the change that set an attribute (stamp.go), carried in state
	// transfers between Go nodes (AskStamps).
	version uint64
	origin  uint32
}

func encodeBool(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

func decodeBool(b []byte) (bool, error) {
	if len(b) != 1 || b[0] > 1 {
		return false, errors.New("delta: bad boolean value")
	}
	return b[0] == 1, nil
}

func encodeInterval(sec int32) []byte { return binary.AppendVarint(nil, int64(sec)) }

func decodeInterval(b []byte) (int32, error) {
	v, n := binary.Varint(b)
	if n <= 0 || n != len(b) || v < -1<<31 || v > 1<<31-1 {
		return 0, errors.New("delta: bad interval value")
	}
	return int32(v), nil
}
