package interceptors_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
)

// Stamp is a custom interceptor: it puts a header in front of every outgoing message and
// checks and removes it on receipt. It embeds channel.InterceptorBase, which forwards
// everything it does not override.
type Stamp struct {
	channel.InterceptorBase
	Header []byte
}

// SendMessage replaces the payload on the way down. It must not modify msg.Data in place
// (it may be the application's buffer), and it restores the message when the layers below
// are done, so that the layers above see it unchanged.
func (s *Stamp) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	data := msg.Data
	msg.Data = append(append(make([]byte, 0, len(s.Header)+len(data)), s.Header...), data...)
	err := s.Next().SendMessage(ctx, to, msg)
	msg.Data = data
	return err
}

// MessageReceived undoes SendMessage on the way up. An error refuses the message (a
// synchronized-ack sender gets a FAIL_ACK).
func (s *Stamp) MessageReceived(msg *channel.Message) error {
	if !bytes.HasPrefix(msg.Data, s.Header) {
		return fmt.Errorf("stamp: message %s has no %q header", msg.IDString(), s.Header)
	}
	msg.Data = msg.Data[len(s.Header):]
	return s.Prev().MessageReceived(msg)
}

// wireSpy prints what reaches the network.
type wireSpy struct{ channel.InterceptorBase }

func (w *wireSpy) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	fmt.Printf("on the wire: %q (options %v)\n", msg.Data, msg.Options)
	return w.Next().SendMessage(ctx, to, msg)
}

// Writing your own interceptor: embed channel.InterceptorBase, override what you need,
// register a factory so that Build knows it, and stack it over the in-memory network.
func Example_customInterceptor() {
	interceptors.Register("stamp", func(p *interceptors.Props) (channel.Interceptor, error) {
		return &Stamp{Header: []byte(p.String("header", "v1|"))}, nil
	})

	nw := channeltest.NewNetwork()
	start := func(spec string, extra ...channel.Interceptor) *channel.Channel {
		ics, err := interceptors.Build(spec, nil)
		if err != nil {
			panic(err)
		}
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{
			Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: append(ics, extra...), HeartbeatInterval: -1,
		})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			panic(err)
		}
		return ch
	}
	// Configuration order: the first interceptor is the closest to the application.
	a := start("stamp(header=v1|), order", &wireSpy{})
	b := start("stamp(header=v1|), order")
	defer a.Stop(context.Background(), channel.SvcAll)
	defer b.Stop(context.Background(), channel.SvcAll)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		fmt.Printf("b received: %q\n", m.Data)
		return nil
	}))

	if err := a.Send(context.Background(), nil, []byte("hello"), channel.OptUseAck); err != nil {
		panic(err)
	}
	// Output:
	// on the wire: "v1|hello\x00\x00\x00\x01" (options use_ack, byte)
	// b received: "hello"
}

// An Encrypt interceptor for a cluster with Tomcat 10.1.52 nodes that do not set
// encryptionAlgorithm: that release writes the legacy format (no replay protection) and
// defaults to CBC.
func ExampleEncryptFormatForTomcat() {
	key, _ := interceptors.KeyFromHex("000102030405060708090a0b0c0d0e0f")
	e, err := interceptors.NewEncrypt(interceptors.EncryptConfig{
		Key:       key,
		Format:    interceptors.EncryptFormatForTomcat(10, 1, 52),
		Algorithm: interceptors.EncryptionAlgorithmForTomcat(10, 1, 52),
	})
	if err != nil {
		panic(err)
	}
	c := e.Config()
	fmt.Println(c.Format, c.Algorithm)
	// The same in a stack spec:
	ics, _ := interceptors.Build("encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f;format=legacy;encryptionAlgorithm=AES/CBC/PKCS5Padding)", nil)
	fmt.Println(ics[0].(*interceptors.Encrypt).Config().Format)
	// Output:
	// legacy AES/CBC/PKCS5Padding
	// legacy
}
