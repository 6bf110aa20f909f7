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

// Stream constants of the grammar (java.io.ObjectStreamConstants) that peekRPCID reads.
const (
	tcNull          = 0x70
	tcClassDesc     = 0x72
	tcEndBlockData  = 0x78
	tcBlockData     = 0x77
	tcBlockDataLong = 0x7A
)

// peekRPCID returns the rpc id of a stream holding an RpcMessage or a NoRpcChannelReply,
// reading the stream's class descriptors and the block data before the payload only: not
// the payload, which it neither decodes nor copies. It accepts what ObjectOutputStream
// writes for these classes (descriptors without fields or annotations); ok is false for
// anything else, which unmarshal may still decode.
func peekRPCID(b []byte) (id []byte, ok bool) {
	if !bytes.HasPrefix(b, streamPrefix) {
		return nil, false
	}
	b = b[len(streamPrefix):]
	noChannel := false
	switch {
	case classDescIs(b, noReplyClass, noReplySUID):
		noChannel = true
		b = b[descLen(noReplyClass):]
		if len(b) == 0 || b[0] != tcClassDesc || !classDescIs(b[1:], messageClass, messageSUID) {
			return nil, false
		}
		b = b[1+descLen(messageClass):]
	case classDescIs(b, messageClass, messageSUID):
		b = b[descLen(messageClass):]
	default:
		return nil, false
	}
	if len(b) == 0 || b[0] != tcNull { // no superclass
		return nil, false
	}
	r := blockReader{rest: b[1:]}
	if !noChannel {
		if _, ok := r.read(1); !ok { // the reply flag
			return nil, false
		}
	}
	for range 2 { // uuid, then rpcId
		n, ok := r.read(4)
		if !ok {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(n))
		if l < 0 || l > maxIDLen {
			return nil, false
		}
		if id, ok = r.read(int(l)); !ok {
			return nil, false
		}
	}
	return id, true
}

// classDescIs reports whether b starts with the body of a class descriptor (after
// TC_CLASSDESC) for name and suid, with no fields and an empty annotation.
func classDescIs(b []byte, name string, suid int64) bool {
	n := descLen(name)
	if len(b) < n || int(binary.BigEndian.Uint16(b)) != len(name) || string(b[2:2+len(name)]) != name {
		return false
	}
	b = b[2+len(name):]
	return int64(binary.BigEndian.Uint64(b)) == suid && b[8]&jserial.SCExternalizable != 0 &&
		binary.BigEndian.Uint16(b[9:]) == 0 && b[11] == tcEndBlockData
}

// descLen is the length of the descriptor body classDescIs reads: name length, name,
// serialVersionUID, flags, field count, end of annotation.
func descLen(name string) int { return 2 + len(name) + 8 + 1 + 2 + 1 }

// blockReader reads the bytes of consecutive TC_BLOCKDATA / TC_BLOCKDATALONG blocks.
type blockReader struct {
	cur  []byte // what is left of the current block
	rest []byte // the stream after it
}

// read returns the next n bytes of block data: a slice of the stream when they are in
// one block, else a copy; ok is false when the block data has fewer than n bytes left.
func (r *blockReader) read(n int) (out []byte, ok bool) {
	if n <= len(r.cur) {
		out, r.cur = r.cur[:n], r.cur[n:]
		return out, true
	}
	out = make([]byte, 0, min(n, len(r.cur)+len(r.rest)))
	for len(out) < n {
		if len(r.cur) == 0 && !r.next() {
			return nil, false
		}
		k := min(n-len(out), len(r.cur))
		out, r.cur = append(out, r.cur[:k]...), r.cur[k:]
	}
	return out, true
}

// next moves to the next block; false when the stream has no further block.
func (r *blockReader) next() bool {
	var n, h int
	switch {
	case len(r.rest) >= 2 && r.rest[0] == tcBlockData:
		n, h = int(r.rest[1]), 2
	case len(r.rest) >= 5 && r.rest[0] == tcBlockDataLong:
		l := int32(binary.BigEndian.Uint32(r.rest[1:]))
		if l < 0 {
			return false
		}
		n, h = int(l), 5
	default:
		return false
	}
	if len(r.rest)-h < n {
		return false
	}
	r.cur, r.rest = r.rest[h:h+n], r.rest[h+n:]
	return true
}

// unmarshal decodes a stream holding an RpcMessage or a NoRpcChannelReply within the
// limits (Config.Limits) of lim.
func unmarshal(b []byte, lim jserial.DecoderConfig) (*message, error) {
	v, err := jserial.UnmarshalConfig(b, lim)
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
