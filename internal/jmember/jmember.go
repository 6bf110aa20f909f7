// Package jmember writes and reads Tribes' MemberImpl as a Java-serialized object, the
// form a Member takes inside the protocol objects that carry one (StaticMembershipProvider's
// MemberMessage, AbstractReplicatedMap's MapMessage): MemberImpl is Externalizable and
// writes an int length, then the member bytes of wire.AppendMember.
package jmember

import (
	"errors"
	"fmt"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

const (
	// Class is MemberImpl's class name.
	Class = "org.apache.catalina.tribes.membership.MemberImpl"

	// SUID is the computed serialVersionUID of MemberImpl in Tomcat 10.1.40+ and
	// 11.0.6+. Java refuses a Member written with another one.
	SUID = -8901659902996040089
	// SUID10 is MemberImpl's serialVersionUID in 10.0.27, 10.1.0–10.1.39 and 11.0.0–11.0.5.
	SUID10 = 6004750745337223678
	// SUID9 is MemberImpl's serialVersionUID in Tomcat 9.0.x.
	SUID9 = 3323947316117794076
)

// ErrBadMember is wrapped by Decode's errors.
var ErrBadMember = errors.New("not an externalized MemberImpl")

// Desc returns MemberImpl's class descriptor with serialVersionUID suid.
func Desc(suid int64) *jserial.ClassDesc {
	return &jserial.ClassDesc{Name: Class, SUID: suid, Flags: jserial.SCExternalizable | jserial.SCBlockData}
}

// Object returns m as a MemberImpl object of class desc (from Desc).
func Object(desc *jserial.ClassDesc, m *wire.Member) *jserial.Object {
	var w jserial.DataWriter
	b := wire.AppendMember(nil, m)
	w.WriteInt32(int32(len(b)))
	_, _ = w.Write(b)
	return &jserial.Object{Class: desc, External: w.Contents()}
}

// Decode reads a member from a decoded object of any class that externalizes as
// MemberImpl does (MemberImpl, StaticMember), whatever its serialVersionUID. Errors wrap
// ErrBadMember.
func Decode(v any) (wire.Member, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class == nil || !o.Class.Externalizable() {
		return wire.Member{}, fmt.Errorf("%w: %T", ErrBadMember, v)
	}
	r := jserial.NewDataReader(o.External)
	n, err := r.ReadInt32()
	if err != nil {
		return wire.Member{}, fmt.Errorf("%w: member length: %w", ErrBadMember, err)
	}
	if n <= 0 || n > wire.MaxMemberSize {
		return wire.Member{}, fmt.Errorf("%w: member length %d", ErrBadMember, n)
	}
	b, err := r.ReadBytes(int(n))
	if err != nil {
		return wire.Member{}, fmt.Errorf("%w: member bytes: %w", ErrBadMember, err)
	}
	m, used, err := wire.ParseMember(b)
	if err != nil {
		return wire.Member{}, fmt.Errorf("%w: %w", ErrBadMember, err)
	}
	if used != len(b) || !r.Done() {
		return wire.Member{}, fmt.Errorf("%w: data after the member", ErrBadMember)
	}
	return m, nil
}
