package farm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// Class names of the deployer's messages (catalina-ha, package org.apache.catalina.ha.deploy).
const (
	fileMessageClass     = "org.apache.catalina.ha.deploy.FileMessage"
	undeployMessageClass = "org.apache.catalina.ha.deploy.UndeployMessage"
)

// FileMessage is one chunk of a file on its way to the members (Tomcat's FileMessage):
// chunks are numbered from 1 to Total and carry the file's bytes in order.
type FileMessage struct {
	Timestamp   int64  // ClusterMessageBase.timestamp: the sender's clock, in ms
	Number      int32  // messageNumber, from 1
	Total       int64  // totalNrOfMsgs
	Data        []byte // the chunk's bytes (data[:dataLength] on the wire)
	FileName    string // fileName: the file's base name
	ContextName string // contextName: the context path it deploys, "" for the root
}

// UndeployMessage asks the members to remove a deployed context (Tomcat's UndeployMessage).
type UndeployMessage struct {
	Sender      wire.Member // address: the member asking
	Timestamp   int64       // ms since the epoch
	UniqueID    string      // Tomcat writes "Undeploy:<context>:<timestamp>"
	ContextName string
}

var (
	stringSig          = "Ljava/lang/String;"
	clusterMessageDesc = &jserial.ClassDesc{Name: "org.apache.catalina.ha.ClusterMessageBase", SUID: 1,
		Flags: jserial.SCSerializable, Fields: []jserial.Field{{Type: 'J', Name: "timestamp"}}}
	// Java orders a class's fields primitives first, each group by name.
	fileMessageDesc = &jserial.ClassDesc{Name: fileMessageClass, SUID: 2, Flags: jserial.SCSerializable,
		Super: clusterMessageDesc, Fields: []jserial.Field{
			{Type: 'I', Name: "dataLength"},
			{Type: 'I', Name: "messageNumber"},
			{Type: 'J', Name: "totalNrOfMsgs"},
			{Type: 'L', Name: "contextName", Signature: stringSig},
			{Type: '[', Name: "data", Signature: "[B"},
			{Type: 'L', Name: "fileName", Signature: stringSig},
		}}
	undeployMessageDesc = &jserial.ClassDesc{Name: undeployMessageClass, SUID: 2, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{
			{Type: 'J', Name: "timestamp"},
			{Type: 'L', Name: "address", Signature: "Lorg/apache/catalina/tribes/Member;"},
			{Type: 'L', Name: "contextName", Signature: stringSig},
			{Type: 'L', Name: "uniqueId", Signature: stringSig},
		}}
	memberDesc = jmember.Desc(jmember.SUID)
)

// classPrefix is what a stream holding an object of class name starts with: the stream
// header, TC_OBJECT, TC_CLASSDESC and the class name.
func classPrefix(name string) []byte {
	b := []byte{0xAC, 0xED, 0x00, 0x05, 0x73, 0x72}
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	return append(b, name...)
}

var (
	filePrefix     = classPrefix(fileMessageClass)
	undeployPrefix = classPrefix(undeployMessageClass)
)

// ErrMalformed is wrapped by the errors of DecodeMessage for a stream that is not a valid
// FileMessage or UndeployMessage.
var ErrMalformed = errors.New("farm: malformed message")

// AppendMessage appends the Java serialization stream of m (a *FileMessage or an
// *UndeployMessage) to b.
func AppendMessage(b []byte, m any) ([]byte, error) {
	var o *jserial.Object
	var err error
	switch m := m.(type) {
	case *FileMessage:
		if o, err = jserial.NewObject(fileMessageDesc); err != nil {
			return b, err
		}
		data := m.Data
		if data == nil {
			data = []byte{}
		}
		err = errors.Join(o.SetField("timestamp", m.Timestamp), o.SetField("dataLength", int32(len(m.Data))),
			o.SetField("messageNumber", m.Number), o.SetField("totalNrOfMsgs", m.Total),
			o.SetField("contextName", m.ContextName), o.SetField("data", data), o.SetField("fileName", m.FileName))
	case *UndeployMessage:
		if o, err = jserial.NewObject(undeployMessageDesc); err != nil {
			return b, err
		}
		sender := m.Sender
		err = errors.Join(o.SetField("timestamp", m.Timestamp), o.SetField("address", jmember.Object(memberDesc, &sender)),
			o.SetField("contextName", m.ContextName), o.SetField("uniqueId", m.UniqueID))
	default:
		return b, fmt.Errorf("farm: cannot encode %T", m)
	}
	if err != nil {
		return b, err
	}
	return jserial.MarshalAppend(b, o)
}

// DecodeMessage decodes a FileMessage or UndeployMessage stream within limits (zero
// fields take jserial's defaults). It returns a *FileMessage or an *UndeployMessage; a
// FileMessage's Data is the chunk's dataLength bytes (nil when there are none). Errors wrap ErrMalformed or are
// jserial's (*jserial.DecodeError, jserial.ErrLimit).
func DecodeMessage(data []byte, limits jserial.DecoderConfig) (any, error) {
	if !bytes.HasPrefix(data, filePrefix) && !bytes.HasPrefix(data, undeployPrefix) {
		return nil, fmt.Errorf("%w: not a FileMessage or UndeployMessage stream", ErrMalformed)
	}
	v, err := jserial.UnmarshalConfig(data, limits)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*jserial.Object)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrMalformed, v)
	}
	f := jserial.Fields{Object: o}
	switch o.Class.Name {
	case fileMessageClass:
		m := &FileMessage{Timestamp: jserial.FieldAs[int64](&f, "timestamp"),
			Number: jserial.FieldAs[int32](&f, "messageNumber"), Total: jserial.FieldAs[int64](&f, "totalNrOfMsgs"),
			FileName: jserial.FieldAs[string](&f, "fileName"), ContextName: jserial.FieldAs[string](&f, "contextName")}
		n := jserial.FieldAs[int32](&f, "dataLength")
		raw := jserial.FieldAs[[]byte](&f, "data")
		if f.Err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, f.Err)
		}
		if n < 0 || int(n) > len(raw) {
			return nil, fmt.Errorf("%w: dataLength %d of a %d-byte array", ErrMalformed, n, len(raw))
		}
		if n > 0 {
			m.Data = raw[:n:n]
		}
		return m, nil
	case undeployMessageClass:
		m := &UndeployMessage{Timestamp: jserial.FieldAs[int64](&f, "timestamp"),
			UniqueID: jserial.FieldAs[string](&f, "uniqueId"), ContextName: jserial.FieldAs[string](&f, "contextName")}
		a := f.Get("address")
		if f.Err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, f.Err)
		}
		if a != nil {
			if m.Sender, err = jmember.Decode(a); err != nil {
				return nil, fmt.Errorf("%w: address: %w", ErrMalformed, err)
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: class %s", ErrMalformed, o.Class.Name)
}
