package objects_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/objects"
)

// A node sends a java.util.HashMap; the other node's listener gets the decoded value.
// A Java node's ChannelListener would receive a HashMap<String,Integer>.
func Example() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var chans []*channel.Channel
	for range 2 {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			panic(err)
		}
		ch.AddMessageListener(objects.Func(func(v any, from channel.Member) error {
			m := v.(*jserial.Map)
			n, _ := m.Get("answer")
			fmt.Printf("%d entries from port %d, answer=%v (%T)\n", len(m.Entries), from.Port, n, n)
			return nil
		}))
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}
	m := &jserial.Map{Class: jserial.HashMap}
	m.Put("answer", int32(42))
	m.Put("question", "unknown")
	err := objects.Send(ctx, chans[0], nil, m, channel.OptUseAck|channel.OptSyncAck)
	fmt.Println("send error:", err)
	// Output:
	// 2 entries from port 4000, answer=42 (int32)
	// send error: <nil>
}
