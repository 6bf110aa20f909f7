package delta

import (
	"bytes"
	"encoding/binary"

	"github.com/gotribes/tribes/jserial"
)

// JavaCodec is the MessageCodec of Tomcat's DeltaManager: every message is a Java
// serialization stream holding an org.apache.catalina.ha.session.SessionMessageImpl
// (serialVersionUID 2, superclass ClusterMessageBase), sent as a Tribes object message
// (without OptByteMessage), so Go and Tomcat 10.1 nodes share sessions. Use it with
// JavaValueCodec as the managers' Config.Codec: attribute values must be Java
// serialization streams, which is what JavaValueCodec produces.
//
// The event payload (SessionMessageImpl.mSession) is, as Tomcat writes it:
//   - EventDelta: DeltaRequest.writeExternal's data (session id, recordAllActions, the
//     actions with their values as objects). Principals are
//     GenericPrincipal$SerializablePrincipal objects (name, roles, attributes, user
//     principal; one read from Tomcat is written back as read while unchanged), the
//     max inactive interval an Integer, isNew a Boolean, the auth type and String notes
//     Strings, and a listener a ClusterSingleSignOnListener whose ssoId is the Go
//     listener name.
//   - EventAllSessionData: an Integer count and each session in DeltaSession's
//     writeObjectData layout; Tomcat's SESSION_ID and REQUEST authenticator notes travel
//     in it, other notes do not.
//   - EventChangeSessionID: a stream holding only writeUTF(newID).
//
// Message.Version of a delta has no place in Tomcat's format and arrives as 0; a
// session's version in a state transfer does travel. A null mContextName is an empty
// Context (every manager), the name "" an empty Context with EmptyContext set. A delta
// whose DeltaRequest names another session than the message is malformed, as Tomcat's
// DeltaRequest.execute refuses it. A transferred session whose principal is of another
// class than GenericPrincipal (a realm's own) arrives without a principal, as Tomcat's
// deltas replicate it. Decoding one message is bounded by its size (MaxExpansion). A
// note whose Java value is not a
// String is kept as that value's serialization stream in the Go note string and written
// back as the object. Malformed streams are errors wrapping ErrMalformed; the zero value
// applies the jserial decoder defaults and BinaryCodec's count limit, and NewCluster
// refuses a negative limit, its Limits' included (ErrInvalidConfig). AppendMessage
// refuses, with an error wrapping ErrMessageLimit, a delta or id change that a JavaCodec
// configured alike would refuse to decode: more actions than MaxEntries, a stream longer
// than Limits.MaxBytes, an attribute, note or principal value whose stream alone goes
// beyond Limits (also wrapping jserial.ErrLimit: TestJavaCodecReadsValuesWithItsLimits,
// TestJavaCodecRefusesPrincipalPastLimitsOnSend), or values within them alone that
// together go beyond them, as a delta's values share one stream's handles
// (TestJavaCodecValuesTogetherPastLimitsNotSent); MaxExpansion is not checked. In a
// state transfer chunk, each session's values are read with Limits, and a session
// holding one beyond them is left out of the chunk, counted in the donor's
// Stats.TransferSessionsRefused and logged, the other sessions sent
// (TestJavaDonorLeavesOutTheSessionPastItsLimits); the chunk's values together are not
// checked. A joiner reads the chunk as one stream, and refuses it whole when a session
// goes beyond its Limits or MaxEntries, or the values do together (MaxHandles for one):
// one handle table for the chunk and no length of a session, the end of a session is
// found only by decoding it (TestJavaChunkPastTheJoinersLimitsRefusedWhole). SessionData and EncodeDeltaRequest
// (session/backup) read the values with Limits too.
type JavaCodec struct {
	// Limits bound every decoded stream (depth, handles, lengths, size), and the
	// attribute values its managers' JavaValueCodec reads where that codec's own Limits
	// fields are zero. Zero fields take jserial's defaults.
	Limits jserial.DecoderConfig
	// MaxEntries caps the actions or sessions of one message. 0 means DefaultMaxEntries.
	MaxEntries int
	// MaxExpansion bounds what decoding one message (or DeltaRequest) produces: the Go
	// forms of its values (attribute and note streams, String bytes, principal actions'
	// values) take at most MaxExpansion times its size plus 128 KiB, and the streams
	// written to compare principals with Go's form of them (to keep Tomcat's bytes) at
	// most four times that plus 1 MiB; beyond, the message is refused with an error
	// wrapping ErrDecodeBudget (and jserial.ErrLimit). A value the message holds once and
	// refers to again is converted once, but distinct values sharing one object (a 5-byte
	// reference in the stream) are written with all of it each, as are their class
	// descriptors, which Tomcat's message writes once: real sessions' values take up to
	// about 4 times a state transfer chunk (application classes, Spring Security's
	// context; TestJavaCodecShopStateWithinBudget). 0 means DefaultMaxExpansion (16), at
	// which a message sharing one object among many values makes decoding allocate at
	// most about 16 times its size plus 2 MiB (TestJavaCodecSharedObjectDefaultBudget).
	MaxExpansion int
}

// Class names and serialVersionUIDs of what JavaCodec writes (Tribes specification,
// section 13).
const (
	sessionMessageClass = "org.apache.catalina.ha.session.SessionMessageImpl"
	principalClass      = "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"
	ssoListenerClass    = "org.apache.catalina.ha.authenticator.ClusterSingleSignOnListener"

	nameListener = "__SET__LISTENER__"

	// NoteSessionID and NoteRequest are the notes of Tomcat's authenticators that a state
	// transfer carries (org.apache.catalina.authenticator.Constants SESSION_ID_NOTE and
	// FORM_REQUEST_NOTE).
	NoteSessionID = "org.apache.catalina.authenticator.SESSION_ID"
	NoteRequest   = "org.apache.catalina.authenticator.REQUEST"
)

var (
	stringSig          = "Ljava/lang/String;"
	clusterMessageDesc = &jserial.ClassDesc{Name: "org.apache.catalina.ha.ClusterMessageBase", SUID: 1,
		Flags: jserial.SCSerializable, Fields: []jserial.Field{{Type: 'J', Name: "timestamp"}}}
	sessionMessageDesc = &jserial.ClassDesc{Name: sessionMessageClass, SUID: 2, Flags: jserial.SCSerializable,
		Super: clusterMessageDesc, Fields: []jserial.Field{
			{Type: 'I', Name: "mEvtType"},
			{Type: 'J', Name: "serializationTimestamp"},
			{Type: 'Z', Name: "timestampSet"},
			{Type: 'L', Name: "mContextName", Signature: stringSig},
			{Type: '[', Name: "mSession", Signature: "[B"},
			{Type: 'L', Name: "mSessionID", Signature: stringSig},
			{Type: 'L', Name: "uniqueId", Signature: stringSig},
		}}
	principalDesc = &jserial.ClassDesc{Name: principalClass, SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{
			{Type: 'L', Name: "attributes", Signature: "Ljava/util/Map;"},
			{Type: 'L', Name: "name", Signature: stringSig},
			{Type: 'L', Name: "principal", Signature: "Ljava/security/Principal;"},
			{Type: '[', Name: "roles", Signature: "[Ljava/lang/String;"},
		}}
	stringArrayDesc = &jserial.ClassDesc{Name: "[Ljava.lang.String;", SUID: -5921575005990323385,
		Flags: jserial.SCSerializable}
	ssoListenerSuper = &jserial.ClassDesc{Name: "org.apache.catalina.authenticator.SingleSignOnListener", SUID: 1,
		Flags: jserial.SCSerializable, Fields: []jserial.Field{{Type: 'L', Name: "ssoId", Signature: stringSig}}}
	ssoListenerDesc = &jserial.ClassDesc{Name: ssoListenerClass, SUID: 1, Flags: jserial.SCSerializable,
		Super: ssoListenerSuper}
)

// streamMagic starts every Java serialization stream.
var streamMagic = []byte{0xAC, 0xED, 0x00, 0x05}

// javaMessagePrefix is what a stream holding a SessionMessageImpl starts with: the
// header, TC_OBJECT, TC_CLASSDESC and the class name.
var javaMessagePrefix = func() []byte {
	b := append(append([]byte(nil), streamMagic...), 0x73, 0x72)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sessionMessageClass)))
	return append(b, sessionMessageClass...)
}()

func (JavaCodec) objectMessages() {}

// Owns reports whether data is a stream holding a SessionMessageImpl.
func (JavaCodec) Owns(data []byte) bool { return bytes.HasPrefix(data, javaMessagePrefix) }
