package farm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// hookChannel is a channel that calls after once its n-th message was sent.
type hookChannel struct {
	*channel.Channel
	n     atomic.Int32
	at    int32
	after func()
}

func (c *hookChannel) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	err := c.Channel.SendMessage(ctx, to, msg)
	if c.n.Add(1) == c.at {
		c.after()
	}
	return err
}

// TestReceiverRestartMidTransferFailsInstall: a member whose deployer restarts after it
// got chunk 1 of 3 must not acknowledge the last chunk: the docs say the last chunk is
// acknowledged "once the file is installed and OnInstall returned". It used to hold
// chunks 2 and 3 as "early" ones waiting for a chunk 1 that a synchronized sender never
// sends again, and acknowledge them: Install returned nil, the sender counted the file
// sent, and the member never installed it (it was dropped after MaxValidTime). Now a
// chunk ahead from a synchronized-ack sender is refused with a FAIL_ACK.
func TestReceiverRestartMidTransferFailsInstall(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	b := startNode(t, nw, farm.Config{})
	_, ach := nw.StartChannel(t)
	hc := &hookChannel{Channel: ach, at: 1, after: func() {
		if err := b.d.Stop(ctx); err != nil {
			t.Error(err)
		}
		if err := b.d.Start(ctx); err != nil {
			t.Error(err)
		}
	}}
	const chunk = 1024
	a, err := farm.New(farm.Config{Channel: hc, DeployDir: t.TempDir(), TempDir: t.TempDir(), ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(ctx) })
	src := writeFile(t, t.TempDir(), "shop.war", content(3*chunk-100, 1))
	err = a.Install(ctx, "/shop", src)
	_, serr := os.Stat(filepath.Join(b.deploy, "shop.war"))
	if err == nil && serr != nil {
		t.Fatalf("Install returned nil (the member acknowledged every chunk, the last one too), but the member "+
			"did not install the file: %v; it holds %d incomplete file(s)", serr, b.d.Stats().Incomplete)
	}
}

// TestChunkAheadFromInOrderSender: a synchronized-ack sender (not asynchronous) sends a
// file's chunks in order, each once the previous one was acknowledged, so a chunk ahead
// of the one its file waits for means the chunks between are lost: it is refused with
// ErrInconsistent and the file dropped, rather than held for MaxValidTime.
func TestChunkAheadFromInOrderSender(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	const sync = channel.OptUseAck | channel.OptSyncAck
	if err := receive(t, a, b, sync, &farm.FileMessage{Number: 1, Total: 3, Data: []byte("one"), FileName: "x.war",
		ContextName: "/x"}); err != nil {
		t.Fatal(err)
	}
	err := receive(t, a, b, sync, &farm.FileMessage{Number: 3, Total: 3, Data: []byte("three"), FileName: "x.war",
		ContextName: "/x"})
	if !errors.Is(err, farm.ErrInconsistent) {
		t.Fatalf("chunk 3 after chunk 1 from a synchronized-ack sender: %v, want ErrInconsistent", err)
	}
	if st := b.d.Stats(); st.Incomplete != 0 || st.Refused != 1 {
		t.Errorf("stats %+v, want the file dropped and the chunk refused", st)
	}
	if left := entries(t, b.temp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
