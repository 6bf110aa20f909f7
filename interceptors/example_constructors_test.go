package interceptors_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
)

// The stack "order,gzip,fragmentation(maxSize=1024)" built with the constructors rather
// than from text (interceptors.Build), first = closest to the application, as in
// channel.Config.Interceptors: a 10 000-byte message goes out compressed, in fragments if
// still larger than 1024 bytes, and arrives whole and in order.
func ExampleNewOrder() {
	stack := func() []channel.Interceptor {
		order, err := interceptors.NewOrder(interceptors.OrderConfig{}) // Tomcat's defaults
		if err != nil {
			panic(err)
		}
		gz, err := interceptors.NewGzip(interceptors.GzipConfig{})
		if err != nil {
			panic(err)
		}
		frag, err := interceptors.NewFragmentation(interceptors.FragmentationConfig{MaxSize: 1024})
		if err != nil {
			panic(err)
		}
		return []channel.Interceptor{order, gz, frag}
	}
	nw := channeltest.NewNetwork()
	start := func() *channel.Channel {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: stack(), HeartbeatInterval: -1})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			panic(err)
		}
		return ch
	}
	a, b := start(), start()
	defer a.Stop(context.Background(), channel.SvcAll)
	defer b.Stop(context.Background(), channel.SvcAll)
	got := make(chan string, 2)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- fmt.Sprintf("%d bytes starting %q", len(m.Data), m.Data[:6])
		return nil
	}))
	for _, s := range []string{"first ", "second"} {
		if err := a.Send(context.Background(), nil, []byte(strings.Repeat(s, 10000/6)), channel.OptUseAck); err != nil {
			panic(err)
		}
	}
	fmt.Println(<-got)
	fmt.Println(<-got)
	// Output:
	// 9996 bytes starting "first "
	// 9996 bytes starting "second"
}
