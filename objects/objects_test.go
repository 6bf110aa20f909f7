package objects_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/objects"
)

func start(t *testing.T, nw *channeltest.Network, ls ...channel.MessageListener) *channel.Channel {
	t.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		ch.AddMessageListener(l)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	return ch
}

// Objects reach object listeners decoded and byte listeners as the raw stream; byte
// messages reach only byte listeners.
func TestRouting(t *testing.T) {
	nw := channeltest.NewNetwork()
	var values []any
	var raw []*channel.Message
	start(t, nw,
		objects.Func(func(v any, _ channel.Member) error { values = append(values, v); return nil }),
		channel.MessageListenerFunc(func(m *channel.Message) error { raw = append(raw, m); return nil }))
	tx := start(t, nw)
	ctx := context.Background()
	opts := channel.OptUseAck | channel.OptSyncAck
	if err := objects.Send(ctx, tx, nil, "text", opts|channel.OptByteMessage); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send(ctx, nil, []byte("bytes"), opts); err != nil {
		t.Fatal(err)
	}
	if len(values) != 1 || values[0] != "text" {
		t.Fatalf("object listener got %v", values)
	}
	if len(raw) != 2 || raw[0].Options != opts || string(raw[1].Data) != "bytes" {
		t.Fatalf("byte listener got %v", raw)
	}
	want, _ := jserial.Marshal("text")
	if string(raw[0].Data) != string(want) {
		t.Fatalf("raw payload %x, want %x", raw[0].Data, want)
	}
	if _, err := objects.Decode(raw[1]); !errors.Is(err, objects.ErrByteMessage) {
		t.Fatalf("Decode of a byte message: %v", err)
	}
}

// A payload that is no serialization stream is a listener failure: FAIL_ACK.
func TestUndecodable(t *testing.T) {
	nw := channeltest.NewNetwork()
	start(t, nw, objects.Func(func(any, channel.Member) error { return nil }))
	tx := start(t, nw)
	err := tx.SendMessage(context.Background(), nil, &channel.Message{
		Options: channel.OptUseAck | channel.OptSyncAck, Data: []byte("not java")})
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("err = %v, want ErrAckFailed", err)
	}
	if err := objects.Send(context.Background(), tx, nil, make(chan int), 0); !errors.Is(err, jserial.ErrType) {
		t.Fatalf("unmarshallable value: %v", err)
	}
}

// ownObject accepts only the serialized object it was made with.
type ownObject struct{ stream []byte }

func (o ownObject) Accept(m *channel.Message) bool         { return bytes.Equal(m.Data, o.stream) }
func (o ownObject) MessageReceived(*channel.Message) error { return nil }

// Func accepts every serialized object, other applications' too; an error it returns for
// one that another listener took does not FAIL_ACK it (channel.CatchAllListener), while an
// object no other listener takes still fails.
func TestFuncErrorsDoNotFailOthersObjects(t *testing.T) {
	nw := channeltest.NewNetwork()
	mine, err := objects.Marshal("mine")
	if err != nil {
		t.Fatal(err)
	}
	start(t, nw, objects.Func(func(any, channel.Member) error { return errors.New("not mine") }), ownObject{mine})
	tx := start(t, nw)
	ctx := context.Background()
	opts := channel.OptUseAck | channel.OptSyncAck
	if err := objects.Send(ctx, tx, nil, "mine", opts); err != nil {
		t.Fatalf("an object another listener took: %v", err)
	}
	if err := objects.Send(ctx, tx, nil, "stray", opts); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("an object only Func took: %v, want FAIL_ACK", err)
	}
}
