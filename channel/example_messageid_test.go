package channel_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// Send gives every message a fresh id from NewMessageID. A caller that wants to know the
// id, to log it or to match what the receiver reports, makes it first and sends with
// SendMessage: the receiver sees the same 16 bytes, a version 4 UUID as Java's are.
func ExampleNewMessageID() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var chans []*channel.Channel
	got := make(chan []byte, 1)
	for range 2 {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			panic(err)
		}
		ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
			got <- bytes.Clone(m.ID) // m is the receiver's until the listener returns
			return nil
		}))
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}

	id := channel.NewMessageID()
	fmt.Println(len(id), "bytes, version", id[6]>>4, "variant RFC 4122:", id[8]>>6 == 2)
	msg := &channel.Message{ID: id, Data: []byte("hello"), Options: channel.OptUseAck | channel.OptSyncAck}
	if err := chans[0].SendMessage(ctx, nil, msg); err != nil {
		panic(err)
	}
	fmt.Println("the receiver saw the same id:", bytes.Equal(<-got, id))
	fmt.Println("a new id each call:", !bytes.Equal(channel.NewMessageID(), channel.NewMessageID()))
	// Output:
	// 16 bytes, version 4 variant RFC 4122: true
	// the receiver saw the same id: true
	// a new id each call: true
}
