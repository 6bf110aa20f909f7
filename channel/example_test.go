package channel_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// Two channels on an in-memory network: one sends with a synchronized ACK, the other's
// listener sees the message. With transport/nio and a membership service the code is the same.
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
		ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
			fmt.Printf("got %q from port %d\n", m.Data, m.Source.Port)
			return nil
		}))
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}
	err := chans[0].Send(ctx, nil, []byte("hello"), channel.OptUseAck|channel.OptSyncAck)
	fmt.Println("send error:", err)
	// Output:
	// got "hello" from port 4000
	// send error: <nil>
}

// A listener error travels back to a synchronized-ACK sender as a FAIL_ACK, and the
// SendError names the member.
func ExampleSendError() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	a, b := nw.NewNode(), nw.NewNode()
	sender, _ := channel.New(channel.Config{Transport: a.Transport(), Membership: a.Membership()})
	receiver, _ := channel.New(channel.Config{Transport: b.Transport(), Membership: b.Membership()})
	receiver.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error {
		return errors.New("cannot store it")
	}))
	_ = receiver.Start(ctx, channel.SvcAll)
	_ = sender.Start(ctx, channel.SvcAll)
	defer receiver.Stop(ctx, channel.SvcAll)
	defer sender.Stop(ctx, channel.SvcAll)

	err := sender.Send(ctx, nil, []byte("x"), channel.OptUseAck|channel.OptSyncAck)
	fmt.Println(errors.Is(err, channel.ErrAckFailed))
	for _, f := range channel.FaultyMembers(err) {
		fmt.Println("faulty:", f.Member.Addr())
	}
	// Output:
	// true
	// faulty: 127.0.0.1:4001
}

func ExampleParseSendOptions() {
	o, _ := channel.ParseSendOptions("use_ack,sync")
	fmt.Println(uint32(o), o)
	// Output: 6 sync, use_ack
}

// A layer that sends to several members builds its error from each member's outcome:
// AppendFaulty names the members a cause applies to, NewSendError returns nil when none
// failed.
func ExampleNewSendError() {
	a := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4001}
	b := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4002}
	var faulty []channel.FaultyMember
	faulty = channel.AppendFaulty(faulty, nil, []channel.Member{a})
	fmt.Println(channel.NewSendError([]byte{1}, faulty) == nil)
	faulty = channel.AppendFaulty(faulty, channel.ErrAckTimeout, []channel.Member{b})
	err := channel.NewSendError([]byte{1}, faulty)
	fmt.Println(errors.Is(err, channel.ErrAckTimeout), len(channel.FaultyMembers(err)))
	// Output:
	// true
	// true 1
}

// A listener that is done with a received message's payload hands its buffer back, so that
// the transport receives a later message into it (transport/nio does for large frames).
// Here the function a transport would attach stands in for transport/nio's pool.
func ExampleMessage_Release() {
	m := &channel.Message{Data: make([]byte, 1<<20)}
	m.SetRelease(func() { fmt.Println("buffer back in the transport's pool") })

	listener := channel.MessageListenerFunc(func(m *channel.Message) error {
		fmt.Println("received", len(m.Data), "bytes")
		m.Release() // nothing keeps m.Data after this
		return nil
	})
	_ = listener.MessageReceived(m)
	fmt.Println("Data after Release is nil:", m.Data == nil)
	// Output:
	// received 1048576 bytes
	// buffer back in the transport's pool
	// Data after Release is nil: true
}
