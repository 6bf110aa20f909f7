package jserial_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

func ExampleUnmarshal() {
	// What ObjectOutputStream.writeObject(Integer.valueOf(1800)) writes.
	b, _ := hex.DecodeString("aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b020000787000000708")
	v, err := jserial.Unmarshal(b)
	fmt.Printf("%T %v %v\n", v, v, err)
	// Output: int32 1800 <nil>
}

func ExampleDecoderConfig_Validate() {
	err := jserial.DecoderConfig{MaxDepth: 64, MaxHandles: -1}.Validate()
	fmt.Println(errors.Is(err, jserial.ErrInvalidConfig))
	fmt.Println(jserial.DecoderConfig{}.Validate()) // zero fields take the defaults
	// Output:
	// true
	// <nil>
}

func ExampleMarshal() {
	b, err := jserial.Marshal([]any{"a", int32(1), true})
	if err != nil {
		panic(err)
	}
	v, _ := jserial.Unmarshal(b)
	fmt.Printf("%d bytes, ArrayList %v\n", len(b), v)
	// Output: 182 bytes, ArrayList [a 1 true]
}

// A Serializable class the Go side defines itself: default field layout, fields in
// Java's order (primitives first, then objects, each sorted by name).
func ExampleNewObject() {
	desc := &jserial.ClassDesc{
		Name:  "org.apache.catalina.tribes.membership.StaticMembershipProvider$MemberMessage",
		SUID:  1,
		Flags: jserial.SCSerializable,
		Fields: []jserial.Field{
			{Type: 'I', Name: "msgtype"},
			{Type: 'L', Name: "member", Signature: "Lorg/apache/catalina/tribes/Member;"},
			{Type: '[', Name: "membershipId", Signature: "[B"},
		},
	}
	o, _ := jserial.NewObject(desc)
	_ = o.SetField("msgtype", int32(1))
	_ = o.SetField("membershipId", []byte("cluster"))
	b, _ := jserial.Marshal(o)

	v, _ := jserial.Unmarshal(b)
	back := v.(*jserial.Object)
	id, _ := back.Field("membershipId")
	typ, _ := back.Field("msgtype")
	fmt.Printf("%s msgtype=%v membershipId=%s\n", back.Class.Name, typ, id)
	// Output: org.apache.catalina.tribes.membership.StaticMembershipProvider$MemberMessage msgtype=1 membershipId=cluster
}

// An Externalizable class writes its data with a DataWriter, as writeExternal does
// with its ObjectOutput, and reads it with a DataReader. This is Tribes' RpcMessage.
func ExampleDataWriter() {
	rpcMessage := &jserial.ClassDesc{
		Name:  "org.apache.catalina.tribes.group.RpcMessage",
		SUID:  8154458786660410633,
		Flags: jserial.SCExternalizable | jserial.SCBlockData,
	}
	var w jserial.DataWriter
	w.WriteBool(false) // reply
	w.WriteInt32(4)    // uuid
	_, _ = w.Write([]byte{1, 2, 3, 4})
	w.WriteInt32(3) // rpcId
	_, _ = w.Write([]byte("map"))
	w.WriteObject("x") // message
	b, _ := jserial.Marshal(&jserial.Object{Class: rpcMessage, External: w.Contents()})
	fmt.Println(hex.EncodeToString(b[bytes.IndexByte(b, 0x77):]))

	v, _ := jserial.Unmarshal(b)
	r := jserial.NewDataReader(v.(*jserial.Object).External)
	reply, _ := r.ReadBool()
	n, _ := r.ReadInt32()
	uuid := make([]byte, n)
	_ = r.ReadFull(uuid)
	n, _ = r.ReadInt32()
	rpcID := make([]byte, n)
	_ = r.ReadFull(rpcID)
	msg, _ := r.ReadObject()
	fmt.Println(reply, uuid, string(rpcID), msg, r.Done())
	// Output:
	// 7710000000000401020304000000036d61707400017878
	// false [1 2 3 4] map x true
}
