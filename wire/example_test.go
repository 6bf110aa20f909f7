package wire_test

import (
	"fmt"

	"github.com/gotribes/tribes/wire"
)

// Encode a message the way a Java Tribes sender does, then decode it from a stream that
// delivers it in two pieces.
func Example() {
	sender := wire.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1}
	id := make([]byte, 16)
	frame := wire.AppendChannelDataFrame(nil, 0x03, 1700000000000, id, wire.AppendMember(nil, &sender), []byte("hello"))

	var d wire.FrameDecoder
	d.Write(frame[:20]) // a partial frame: nothing yet
	_, ok, _ := d.Next()
	fmt.Println("complete after 20 bytes:", ok)
	d.Write(frame[20:])
	body, ok, err := d.Next()
	fmt.Println("complete now:", ok, err)

	cd, err := wire.ParseChannelData(body, nil)
	fmt.Println(err, cd.Options, string(cd.Message), cd.Address.Addr())
	// Output:
	// complete after 20 bytes: false
	// complete now: true <nil>
	// <nil> 3 hello 127.0.0.1:4000
}

func ExampleClassifyAck() {
	body, _, _ := wire.ParseFrame(wire.FailAckFrame, 0)
	fmt.Println(wire.ClassifyAck(body) == wire.FailAck)
	// Output: true
}

func ExampleParseMemberList() {
	ms, err := wire.ParseMemberList("127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600,127.0.0.1:4001")
	if err != nil {
		panic(err)
	}
	for _, m := range ms {
		fmt.Println(wire.FormatMemberText(m))
	}
	// Output:
	// 127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600
	// 127.0.0.1:4001:00000000000000000000000000000000
}
