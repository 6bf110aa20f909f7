package interceptorinterop_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
)

// TestTwoPhaseCommitJavaLosesEarlyConfirmation: a confirmation that overtakes its message
// (docs/interceptors-coordination.md, TwoPhaseCommit) makes Java's TwoPhaseCommitInterceptor lose the
// message: it drops the confirmation ("original message is missing") and then holds the
// message, unconfirmed, until it expires. A Go node without the interceptor plays the
// sender, confirmation first; both sends are sync-acked, so Java has processed each when
// it returns. Go's receiver remembers such a confirmation instead
// (interceptors: TestTwoPhaseCommitEarlyConfirmation).
func TestTwoPhaseCommitJavaLosesEarlyConfirmation(t *testing.T) {
	p := javapeer.Start(t, "--interceptors", "TwoPhaseCommit")
	g := startGo(t, "", nodeOpts{}, javaMember(t, p))
	id := channel.NewMessageID()
	confirm := append(append(mustHex(t, "7101c602dec44bb29bf420e3206fd804"), id...),
		mustHex(t, "36f35a6e2fe14be8afe32434c64d9238")...)
	for _, m := range []*channel.Message{
		{Options: byteSync, ID: channel.NewMessageID(), Data: confirm},
		{Options: byteSync, ID: id, Data: []byte("two-phase, confirmed too early")},
	} {
		if err := g.ch.SendMessage(ctxFor(t, 30*time.Second), nil, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Ping(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Stats(ctxFor(t, 10*time.Second)); err != nil || st.Received != 0 {
		t.Fatalf("Java delivered %d messages (%v); want the message lost", st.Received, err)
	}

	// The same two in the usual order: Java delivers the message.
	id = channel.NewMessageID()
	data := []byte("two-phase, in order")
	confirm = append(append(mustHex(t, "7101c602dec44bb29bf420e3206fd804"), id...),
		mustHex(t, "36f35a6e2fe14be8afe32434c64d9238")...)
	for _, m := range []*channel.Message{
		{Options: byteSync, ID: id, Data: data},
		{Options: byteSync, ID: channel.NewMessageID(), Data: confirm},
	} {
		if err := g.ch.SendMessage(ctxFor(t, 30*time.Second), nil, m); err != nil {
			t.Fatal(err)
		}
	}
	p.WaitEvent(t, 30*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data)))
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
