package replmap_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/replmap"
)

// Three nodes run the map "sessions": node 0 puts an entry, node 2 gets it. With
// transport/nio and Java nodes running a LazyReplicatedMap of the same name, the code is
// the same.
func Example() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var chans []*channel.Channel
	for range 3 {
		n := nw.NewNode()
		d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
		if err != nil {
			panic(err)
		}
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: []channel.Interceptor{d}})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}
	// Create every map before starting any: a map answers the others' MSG_INIT from New
	// on, and a Go node without any rpc channel would not answer at all (Start would wait
	// RPCTimeout for it).
	maps := make([]*replmap.Map, len(chans))
	for i, ch := range chans {
		m, err := replmap.New(replmap.Config{Channel: ch, Name: "sessions"})
		if err != nil {
			panic(err)
		}
		defer m.Stop(ctx)
		maps[i] = m
	}
	for _, m := range maps {
		if err := m.Start(ctx); err != nil {
			panic(err)
		}
	}
	if _, err := maps[0].Put(ctx, "user-42", "Gopher"); err != nil {
		panic(err)
	}
	v, ok, err := maps[2].Get(ctx, "user-42")
	fmt.Println(v, ok, err)
	// Output:
	// Gopher true <nil>
}
