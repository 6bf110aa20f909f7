package interceptors

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// multicastCatcher takes the OptMulticast messages going down (as the membership's
// Broadcast would) and passes everything else on.
type multicastCatcher struct {
	channel.InterceptorBase
	mu  sync.Mutex
	got []*channel.Message
}

func (m *multicastCatcher) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if msg.Options&channel.OptMulticast == 0 {
		return m.Next().SendMessage(ctx, to, msg)
	}
	m.mu.Lock()
	m.got = append(m.got, msg.Clone())
	m.mu.Unlock()
	return nil
}

// Order passes a multicast message (no destinations) down without its counter trailer
// ("multicast: there is no per-destination counter to keep"), but the receiving Order
// takes the last 4 bytes of every message for the counter: the receiver's application
// gets the payload with its last 4 bytes cut off (or, where they read as a number ahead
// of the counter, only after Expire).
func TestOrderMulticastPayloadIntact(t *testing.T) {
	nw := channeltest.NewNetwork()
	catch := &multicastCatcher{}
	a := newNode(t, nw, must(NewOrder(OrderConfig{})), catch)
	b := newNode(t, nw, must(NewOrder(OrderConfig{})))
	startNodes(t, a, b)

	// Its last 4 bytes happen to read as number 1, the next one expected: delivered at once.
	payload := []byte("multicast hello\x00\x00\x00\x01")
	if err := a.ch.SendMessage(context.Background(), nil,
		&channel.Message{Options: channel.OptMulticast | channel.OptByteMessage, Data: payload}); err != nil {
		t.Fatal(err)
	}
	catch.mu.Lock()
	sent := catch.got
	catch.mu.Unlock()
	if len(sent) != 1 {
		t.Fatalf("multicast messages that reached the membership: %d", len(sent))
	}
	// The broadcast frame arrives at b, which gives it the chain's receive path.
	if err := b.tap.inject(sent[0]); err != nil {
		t.Fatal(err)
	}
	got := b.payloads()
	if len(got) != 1 || string(got[0]) != string(payload) {
		t.Fatalf("b received %q, want %q", got, payload)
	}
}

// Fragmentation splits a multicast message (no destinations) larger than MaxSize, but
// sends its pieces only to "to minus the members that failed": with to empty that is
// nobody, so the loop stops before the first piece. Nothing is broadcast and Send returns
// nil: the message is lost while the sender is told it went out. (Java's frag() sends
// every piece to the same, empty, destination list: a multicast of each piece.)
func TestFragmentationMulticastIsSent(t *testing.T) {
	nw := channeltest.NewNetwork()
	catch := &multicastCatcher{}
	a := newNode(t, nw, must(NewFragmentation(FragmentationConfig{MaxSize: 4})), catch)
	startNodes(t, a)

	err := a.ch.SendMessage(context.Background(), nil,
		&channel.Message{Options: channel.OptMulticast | channel.OptByteMessage, Data: []byte("0123456789")})
	catch.mu.Lock()
	n := len(catch.got)
	catch.mu.Unlock()
	if err == nil && n != 3 {
		t.Fatalf("multicast of 10 bytes with maxSize 4: Send returned nil, %d pieces broadcast (want 3)", n)
	}
}

// multicastRefuser fails every multicast, counting the attempts.
type multicastRefuser struct {
	channel.InterceptorBase
	mu       sync.Mutex
	attempts int
}

func (m *multicastRefuser) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if msg.Options&channel.OptMulticast == 0 {
		return m.Next().SendMessage(ctx, to, msg)
	}
	m.mu.Lock()
	m.attempts++
	m.mu.Unlock()
	return channel.ErrMessageTooLarge
}

// A multicast piece that fails ends the send with its error: the pieces after it would be
// of no use.
func TestFragmentationMulticastStopsAtFailedPiece(t *testing.T) {
	nw := channeltest.NewNetwork()
	refuse := &multicastRefuser{}
	a := newNode(t, nw, must(NewFragmentation(FragmentationConfig{MaxSize: 4})), refuse)
	startNodes(t, a)

	err := a.ch.SendMessage(context.Background(), nil,
		&channel.Message{Options: channel.OptMulticast | channel.OptByteMessage, Data: []byte("0123456789")})
	refuse.mu.Lock()
	n := refuse.attempts
	refuse.mu.Unlock()
	if !errors.Is(err, channel.ErrMessageTooLarge) || n != 1 {
		t.Fatalf("Send: %v after %d pieces, want ErrMessageTooLarge after 1", err, n)
	}
}
