package interceptors_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
)

// An S2 interceptor on both sides (Go only: Java nodes have no S2), with MinSize 64: a
// short message goes out as it is, a long one compressed, and both arrive as sent.
func ExampleNewS2() {
	var s2 []*interceptors.S2
	a, b, stop := startPair(func() []channel.Interceptor {
		c, err := interceptors.NewS2(interceptors.S2Config{MinSize: 64}) // option bit 0x0400
		if err != nil {
			panic(err)
		}
		s2 = append(s2, c)
		return []channel.Interceptor{c}
	})
	defer stop()
	got := make(chan int, 2)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- len(m.Data)
		return nil
	}))
	for _, s := range []string{"short", strings.Repeat("a long and repetitive message ", 100)} {
		if err := a.Send(context.Background(), nil, []byte(s), channel.OptUseAck); err != nil {
			panic(err)
		}
		fmt.Println("B received", <-got, "bytes")
	}
	st := s2[0].Stats()
	fmt.Printf("A sent %d compressed (%d bytes to fewer than 300: %v), %d plain\n",
		st.Compressed, st.TxBytesIn, st.TxBytesOut < 300, st.SentPlain)
	// Output:
	// B received 5 bytes
	// B received 3000 bytes
	// A sent 1 compressed (3000 bytes to fewer than 300: true), 1 plain
}
