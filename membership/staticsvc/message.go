package staticsvc

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// Class names and serialVersionUIDs of what the member protocol serializes.
const (
	memberMessageClass = "org.apache.catalina.tribes.membership.StaticMembershipProvider$MemberMessage"
	memberMessageSUID  = 1
	memberImplClass    = jmember.Class
	// The classes of the RPCs the messages travel in (package rpc).
	rpcMessageClass = "org.apache.catalina.tribes.group.RpcMessage"
	noRPCReplyClass = "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply"

	// MemberImplSUID is the computed serialVersionUID of MemberImpl in Tomcat 10.1.40+ and
	// 11.0.6+. Java refuses a Member written with another one, so a cluster of older
	// Tomcats needs Config.MemberSUID: MemberImplSUID10 for 10.0.27 and 10.1.0–10.1.39
	// and 11.0.0–11.0.5, MemberImplSUID9 for 9.0.x.
	MemberImplSUID = jmember.SUID
	// MemberImplSUID10 is MemberImpl's serialVersionUID in 10.1.0–10.1.39 and 11.0.0–11.0.5.
	MemberImplSUID10 = jmember.SUID10
	// MemberImplSUID9 is MemberImpl's serialVersionUID in Tomcat 9.0.x.
	MemberImplSUID9 = jmember.SUID9
)

// Message types of StaticMembershipProvider.MemberMessage.
const (
	msgStart int32 = 1
	msgStop  int32 = 2
	msgPing  int32 = 3
)

// maxMessageBytes bounds a serialized MemberMessage received as a plain (STOP) message:
// a member is at most wire.MaxMemberSize, and the rest is a few hundred bytes.
const maxMessageBytes = wire.MaxMemberSize + 4096

// ErrBadMessage is wrapped by the errors about a member message that is not what
// StaticMembershipProvider sends.
var ErrBadMessage = errors.New("staticsvc: malformed member message")

// memberMessage is StaticMembershipProvider.MemberMessage.
type memberMessage struct {
	typ    int32
	member channel.Member
	id     []byte // membershipId: ISO-8859-1 bytes of "<channel name>-StaticMembership"
}

// classes are the class descriptors a Service writes its messages with.
type classes struct {
	message, member *jserial.ClassDesc
}

func newClasses(memberSUID int64) classes {
	return classes{
		message: &jserial.ClassDesc{
			Name: memberMessageClass, SUID: memberMessageSUID, Flags: jserial.SCSerializable,
			Fields: []jserial.Field{
				{Type: 'I', Name: "msgtype"},
				{Type: 'L', Name: "member", Signature: "Lorg/apache/catalina/tribes/Member;"},
				{Type: '[', Name: "membershipId", Signature: "[B"},
			},
		},
		member: jmember.Desc(memberSUID),
	}
}

// object returns m as the Java object (a MemberImpl member, as MemberImpl.writeExternal
// writes it: int length, then the member bytes).
func (c classes) object(m memberMessage) (*jserial.Object, error) {
	mbr := jmember.Object(c.member, &m.member)
	o, err := jserial.NewObject(c.message)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"msgtype", m.typ}, {"member", mbr}, {"membershipId", m.id}} {
		if err := o.SetField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// marshal returns m as a serialization stream, the payload of a plain (STOP) message.
func (c classes) marshal(m memberMessage) ([]byte, error) {
	o, err := c.object(m)
	if err != nil {
		return nil, err
	}
	return jserial.Marshal(o)
}

// unmarshal decodes the payload of a plain message, with limits fit for one member message.
func unmarshal(b []byte) (memberMessage, error) {
	if len(b) > maxMessageBytes {
		return memberMessage{}, fmt.Errorf("%w: %d bytes", ErrBadMessage, len(b))
	}
	vs, err := jserial.UnmarshalAll(b, jserial.DecoderConfig{MaxDepth: 8, MaxHandles: 64, MaxArrayLen: wire.MaxMemberSize, MaxBytes: maxMessageBytes})
	if err != nil {
		return memberMessage{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	if len(vs) != 1 {
		return memberMessage{}, fmt.Errorf("%w: %d stream elements", ErrBadMessage, len(vs))
	}
	return decode(vs[0])
}

// isMemberMessage reports whether v is an object of MemberMessage's class, whatever its
// content.
func isMemberMessage(v any) bool {
	o, ok := v.(*jserial.Object)
	return ok && o.Class != nil && o.Class.Name == memberMessageClass
}

// decode reads a MemberMessage from a decoded value. The member may be of any class that
// externalizes as MemberImpl does (MemberImpl, StaticMember).
func decode(v any) (memberMessage, error) {
	if !isMemberMessage(v) {
		return memberMessage{}, fmt.Errorf("%w: not a %s but %T", ErrBadMessage, memberMessageClass, v)
	}
	o := v.(*jserial.Object)
	if o.Class.SUID != memberMessageSUID {
		return memberMessage{}, fmt.Errorf("%w: serialVersionUID %d, want %d", ErrBadMessage, o.Class.SUID, memberMessageSUID)
	}
	var m memberMessage
	typ, _ := o.Field("msgtype")
	t, ok := typ.(int32)
	if !ok {
		return m, fmt.Errorf("%w: msgtype is %T", ErrBadMessage, typ)
	}
	m.typ = t
	id, _ := o.Field("membershipId")
	if m.id, ok = id.([]byte); !ok {
		return m, fmt.Errorf("%w: membershipId is %T", ErrBadMessage, id)
	}
	mv, _ := o.Field("member")
	mbr, err := jmember.Decode(mv)
	if err != nil {
		return m, fmt.Errorf("%w: member: %w", ErrBadMessage, err)
	}
	m.member = mbr
	return m, nil
}

// is reports whether m belongs to the membership with this id.
func (m memberMessage) is(id []byte) bool { return bytes.Equal(m.id, id) }

func typeName(t int32) string {
	switch t {
	case msgStart:
		return "MSG_START"
	case msgStop:
		return "MSG_STOP"
	case msgPing:
		return "MSG_PING"
	}
	return fmt.Sprintf("UNKNOWN(%d)", t)
}
