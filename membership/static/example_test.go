package static_test

import (
	"fmt"

	"github.com/gotribes/tribes/membership/static"
)

func ExampleParseMembers() {
	ms, err := static.ParseMembers("127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600,127.0.0.1:4001")
	if err != nil {
		panic(err)
	}
	for _, m := range ms {
		fmt.Println(m.Addr(), m.UniqueID)
	}
	// Output:
	// 127.0.0.1:4000 15ddf6a6977d4c619ac2137b358d5600
	// 127.0.0.1:4001 00000000000000000000000000000000
}
