package interceptors_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
)

// Without a failure detector below it, a ping interceptor sends every member a small
// message on each channel heartbeat (every 5 s) to keep connections busy; the ping
// interceptor of the receiver swallows it. Ping sends one at once. With "ping,tcpfailure"
// a ping is a check of every member instead (see ExampleNewTCPFailureDetector).
func ExampleNewTCPPing() {
	var pings []*interceptors.TCPPing
	a, b, stop := startPair(func() []channel.Interceptor {
		p, err := interceptors.NewTCPPing(interceptors.TCPPingConfig{}) // Tomcat's defaults
		if err != nil {
			panic(err)
		}
		pings = append(pings, p)
		return []channel.Interceptor{p}
	})
	defer stop()
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		fmt.Printf("B received %q\n", m.Data)
		return nil
	}))
	pings[0].Ping(context.Background())
	if err := a.Send(context.Background(), a.Members(), []byte("hello"), channel.OptUseAck); err != nil {
		panic(err)
	}
	fmt.Printf("A sent %d ping; B swallowed %d\n", pings[0].Stats().Pings, pings[1].Stats().Swallowed)
	// Output:
	// B received "hello"
	// A sent 1 ping; B swallowed 1
}
