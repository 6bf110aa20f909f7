package wire_test

import (
	"bytes"
	"fmt"

	"github.com/gotribes/tribes/wire"
)

// A peer writes its Member record as Java's MemberImpl.getData does: in the ChannelData
// it sends, and in membership heartbeats. ParseMember reads one back and says how many
// bytes it took.
func ExampleAppendMember() {
	id, _ := wire.ParseUniqueID("15ddf6a6977d4c619ac2137b358d5600")
	m := wire.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1,
		AliveTime: 1500, UniqueID: id, Domain: []byte("shop")}
	b := wire.AppendMember(nil, &m)
	fmt.Println(len(b) == m.EncodedLen(), wire.IsMemberPacket(b))

	back, n, err := wire.ParseMember(b)
	fmt.Println(n == len(b), err)
	fmt.Println(back.Addr(), back.UniqueID, string(back.Domain), back.AliveTime, back.Equal(m))
	// Output:
	// true true
	// true <nil>
	// 127.0.0.1:4000 15ddf6a6977d4c619ac2137b358d5600 shop 1500 true
}

// A receiver answers a message sent with USE_ACK by one frame whose body is AckCommand
// (FailAckCommand when its listener failed a SYNC_ACK message): AckFrame is that frame.
// A sender reads frames off its connection with ParseFrame, which asks for more bytes
// (n == 0) until a whole frame is there.
func ExampleParseFrame() {
	stream := append(bytes.Clone(wire.AckFrame), wire.FailAckFrame...)
	for len(stream) > 0 {
		body, n, err := wire.ParseFrame(stream[:min(len(stream), 10)], 0) // only 10 bytes came
		if err != nil {
			panic(err)
		}
		if n == 0 {
			body, n, err = wire.ParseFrame(stream, 0) // the rest came
			if err != nil || n == 0 {
				panic(err)
			}
		}
		fmt.Println(n, "bytes:", wire.ClassifyAck(body) == wire.Ack, wire.ClassifyAck(body) == wire.FailAck)
		stream = stream[n:]
	}
	fmt.Println(bytes.Equal(wire.AckFrame, wire.AppendFrame(nil, wire.AckCommand)))
	// Output:
	// 21 bytes: true false
	// 21 bytes: false true
	// true
}

// A member's id is given as 32 hex digits, or as Tomcat writes it in server.xml
// (uniqueId="{...}", signed bytes); both parse to the same UniqueID.
func ExampleParseUniqueID() {
	hex, err := wire.ParseUniqueID("c00a0a0a-0a0a-0a0a-0a0a-0a0a0a0a0a0a")
	if err != nil {
		panic(err)
	}
	tomcat, err := wire.ParseUniqueID("{-64,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10}")
	if err != nil {
		panic(err)
	}
	fmt.Println(hex == tomcat)
	fmt.Println(hex)
	fmt.Println(hex.TomcatText())
	_, err = wire.ParseUniqueID("{200,0}")
	fmt.Println(err != nil)
	// Output:
	// true
	// c00a0a0a0a0a0a0a0a0a0a0a0a0a0a0a
	// {-64,10,10,10,10,10,10,10,10,10,10,10,10,10,10,10}
	// true
}
