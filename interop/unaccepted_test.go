package interop_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
)

// TestJavaAcksUnacceptedSyncMessage: a use_ack,sync message no Java listener accepts is
// ACKed by Java (docs/compatibility.md, docs/wire-format.md), where a Go receiver answers
// FAIL_ACK unless AckUnaccepted is set (TestJavaSyncAckNobodyAcceptsOnGo); a message the
// listener accepts is delivered.
func TestJavaAcksUnacceptedSyncMessage(t *testing.T) {
	p := javapeer.Start(t, "--refuse-prefix", "nobody:")
	g := startGo(t, javaMember(t, p))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const opts = channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck
	if err := g.ch.Send(ctx, nil, []byte("nobody: wants this"), opts); err != nil {
		t.Fatalf("sync-ack send of a message Java accepts nowhere: %v, want an ACK", err)
	}
	data := []byte("somebody: wants this")
	if err := g.ch.Send(ctx, nil, data, opts); err != nil {
		t.Fatal(err)
	}
	p.WaitEvent(t, 30*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data)))
	if st, err := p.Stats(ctx); err != nil || st.Received != 1 {
		t.Fatalf("Java delivered %d messages (%v), want only the accepted one", st.Received, err)
	}
}
