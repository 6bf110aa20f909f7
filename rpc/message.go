package rpc

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

// Class names and the serialVersionUIDs Java computes for them (neither class declares one).
const (
	messageClass = "org.apache.catalina.tribes.group.RpcMessage"
	noReplyClass = "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply"
	messageSUID  = 8154458786660410633
	noReplySUID  = 8911374288427899814

	// maxIDLen bounds the uuid and the rpc id read from a message.
	maxIDLen = 64 << 10
)

var (
	messageDesc = &jserial.ClassDesc{Name: messageClass, SUID: messageSUID,
		Flags: jserial.SCExternalizable | jserial.SCBlockData}
	noReplyDesc = &jserial.ClassDesc{Name: noReplyClass, SUID: noReplySUID,
		Flags: jserial.SCExternalizable | jserial.SCBlockData, Super: messageDesc}
)

// message is an RpcMessage or, with noChannel, an RpcMessage$NoRpcChannelReply (whose
// reply is implied and which carries no payload).
type message struct {
	reply     bool
	noChannel bool
	uuid      []byte
	rpcID     []byte
	payload   any
}

// marshal returns the serialization stream Java's ObjectOutputStream writes for m.
func (m *message) marshal() ([]byte, error) {
	var w jserial.DataWriter
	o := &jserial.Object{Class: messageDesc}
	if m.noChannel {
		o.Class = noReplyDesc
	} else {
		w.WriteBool(m.reply)
	}
	w.WriteInt32(int32(len(m.uuid)))
	_, _ = w.Write(m.uuid)
	w.WriteInt32(int32(len(m.rpcID)))
	_, _ = w.Write(m.rpcID)
	if !m.noChannel {
		w.WriteObject(m.payload)
	}
	o.External = w.Contents()
	b, err := jserial.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("rpc: marshal %T: %w", m.payload, err)
	}
	return b, nil
}

// streamPrefix is what every stream holding an RpcMessage (or a subclass) starts with:
// header, TC_OBJECT, TC_CLASSDESC, then the class name's length and bytes.
var streamPrefix = []byte{0xAC, 0xED, 0x00, 0x05, 0x73, 0x72}

// isMessage reports cheaply, without decoding, whether b is a stream holding an
// RpcMessage or a NoRpcChannelReply.
func isMessage(b []byte) bool {
	if !bytes.HasPrefix(b, streamPrefix) || len(b) < len(streamPrefix)+2 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[len(streamPrefix):]))
	name := b[len(streamPrefix)+2:]
	if len(name) < n {
		return false
	}
	s := string(name[:n])
	return s == messageClass || s == noReplyClass
}

// unmarshal decodes a stream holding an RpcMessage or a NoRpcChannelReply, of at most
// maxBytes bytes.
func unmarshal(b []byte, maxBytes int64) (*message, error) {
	v, err := jserial.UnmarshalConfig(b, jserial.DecoderConfig{MaxBytes: maxBytes})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	o, ok := v.(*jserial.Object)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not an RpcMessage", ErrMalformed, v)
	}
	m := &message{}
	switch c := o.Class; {
	case c.Name == messageClass && c.SUID == messageSUID:
	case c.Name == noReplyClass && c.SUID == noReplySUID:
		m.noChannel, m.reply = true, true
	default:
		return nil, fmt.Errorf("%w: class %s (serialVersionUID %d)", ErrMalformed, c.Name, c.SUID)
	}
	r := jserial.NewDataReader(o.External)
	if !m.noChannel {
		if m.reply, err = r.ReadBool(); err != nil {
			return nil, fmt.Errorf("%w: reply flag: %w", ErrMalformed, err)
		}
	}
	if m.uuid, err = readBytes(r, "uuid"); err != nil {
		return nil, err
	}
	if m.rpcID, err = readBytes(r, "rpcId"); err != nil {
		return nil, err
	}
	if !m.noChannel {
		if m.payload, err = r.ReadObject(); err != nil {
			return nil, fmt.Errorf("%w: message: %w", ErrMalformed, err)
		}
	}
	if !r.Done() {
		return nil, fmt.Errorf("%w: data after the %s fields", ErrMalformed, o.Class.Name)
	}
	return m, nil
}

func readBytes(r *jserial.DataReader, what string) ([]byte, error) {
	n, err := r.ReadInt32()
	if err != nil {
		return nil, fmt.Errorf("%w: %s length: %w", ErrMalformed, what, err)
	}
	if n < 0 || n > maxIDLen {
		return nil, fmt.Errorf("%w: %s length %d", ErrMalformed, what, n)
	}
	b, err := r.ReadBytes(int(n))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	return b, nil
}
