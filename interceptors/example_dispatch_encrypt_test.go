package interceptors_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
)

// MessageDispatch sends the messages that carry channel.OptAsync from a queue, on a pool
// of goroutines: Send returns once the message is queued. Put Order above it when the
// order of asynchronous messages matters, as here ("order,dispatch").
func ExampleNewMessageDispatch() {
	a, b, stop := startPair(func() []channel.Interceptor {
		order, err := interceptors.NewOrder(interceptors.OrderConfig{})
		if err != nil {
			panic(err)
		}
		d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{MaxThreads: 4}) // Tomcat's maxThreads is 10
		if err != nil {
			panic(err)
		}
		return []channel.Interceptor{order, d}
	})
	defer stop()
	got := make(chan string, 3)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- string(m.Data)
		return nil
	}))
	for _, s := range []string{"one", "two", "three"} {
		if err := a.Send(context.Background(), a.Members(), []byte(s), channel.OptAsync|channel.OptUseAck); err != nil {
			panic(err)
		}
	}
	fmt.Println(<-got, <-got, <-got)
	// Output:
	// one two three
}

// Encrypt on both sides, with the same AES key (Tomcat's encryptionKey, in hex): the
// network carries the IV and the ciphertext, the receiver gets the plaintext. GCM and
// the replay window of Tomcat 10.1.56+ are the defaults.
func ExampleNewEncrypt() {
	key, err := interceptors.KeyFromHex("000102030405060708090a0b0c0d0e0f")
	if err != nil {
		panic(err)
	}
	a, b, stop := startPair(func() []channel.Interceptor {
		e, err := interceptors.NewEncrypt(interceptors.EncryptConfig{Key: key})
		if err != nil {
			panic(err)
		}
		return []channel.Interceptor{e, &plainSpy{word: []byte("secret")}}
	})
	defer stop()
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		fmt.Printf("B received %q\n", m.Data)
		return nil
	}))
	if err := a.Send(context.Background(), a.Members(), []byte("secret plan"), channel.OptUseAck); err != nil {
		panic(err)
	}
	// Output:
	// on the wire: plaintext visible: false
	// B received "secret plan"
}

// plainSpy, below Encrypt, reports whether outgoing messages show word.
type plainSpy struct {
	channel.InterceptorBase
	word []byte
}

func (p *plainSpy) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	fmt.Println("on the wire: plaintext visible:", bytes.Contains(msg.Data, p.word))
	return p.Next().SendMessage(ctx, to, msg)
}
