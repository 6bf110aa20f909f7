package farm_test

import (
	"fmt"

	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/jserial"
)

// The farm's messages on their own, as Tomcat's FarmWarDeployer sends them: a chunk of a
// WAR file for the context "/shop" (BaseName gives the file's base name) is written as a
// Java serialization stream and decoded back, within jserial's default limits.
func ExampleAppendMessage() {
	chunk := &farm.FileMessage{Timestamp: 1700000000000, Number: 1, Total: 1,
		Data: []byte("PK\x03\x04..."), FileName: farm.BaseName("/shop") + ".war", ContextName: "/shop"}
	b, err := farm.AppendMessage(nil, chunk)
	if err != nil {
		panic(err)
	}
	v, err := farm.DecodeMessage(b, jserial.DecoderConfig{})
	if err != nil {
		panic(err)
	}
	back := v.(*farm.FileMessage)
	fmt.Printf("%s for %s: chunk %d of %d, %d bytes\n", back.FileName, back.ContextName, back.Number, back.Total, len(back.Data))

	_, err = farm.DecodeMessage(b[:len(b)/2], jserial.DecoderConfig{})
	fmt.Println("half a stream:", err != nil)
	// Output:
	// shop.war for /shop: chunk 1 of 1, 7 bytes
	// half a stream: true
}
