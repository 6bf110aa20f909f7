package farm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
)

// recordingChannel is a's channel with its SendMessage recording the messages instead
// of sending them, so that the test delivers them in an order of its choosing: the
// order in which the chunks of two Installs running at once on one node reach a member.
type recordingChannel struct {
	*channel.Channel
	mu   sync.Mutex
	sent [][]byte
}

func (c *recordingChannel) SendMessage(_ context.Context, _ []channel.Member, msg *channel.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, bytes.Clone(msg.Data))
	return nil
}

func (c *recordingChannel) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sent
	c.sent = nil
	return s
}

// TestInterleavedTransfersOfOneName: the chunks of two transfers of one file name from
// the same node reach a member interleaved (two Installs at once, the watcher's and an
// operator's, before Install took turns; or asynchronous sends). Keyed by sender and
// name alone, the member took the second's chunk 1 for a duplicate and let its chunk 2
// complete the first's file: a mix of both versions, every chunk acknowledged, and the
// first's chunk 2 left waiting as the start of a file that never completes. Each
// transfer carries its own FileMessage timestamp, so the member assembles each apart
// and installs whole versions (the one completed last stays).
func TestInterleavedTransfersOfOneName(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, ach := nw.StartChannel(t)
	b := startNode(t, nw, farm.Config{})
	rc := &recordingChannel{Channel: ach}
	const chunk = 4096
	a, err := farm.New(farm.Config{Channel: rc, DeployDir: t.TempDir(), TempDir: t.TempDir(), ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(ctx) })
	v1, v2 := content(2*chunk, 1), content(2*chunk, 2)
	if err := a.Install(ctx, "/shop", writeFile(t, t.TempDir(), "shop.war", v1)); err != nil {
		t.Fatal(err)
	}
	m1 := rc.take()
	if err := a.Install(ctx, "/shop", writeFile(t, t.TempDir(), "shop.war", v2)); err != nil {
		t.Fatal(err)
	}
	m2 := rc.take()
	if len(m1) != 2 || len(m2) != 2 {
		t.Fatalf("chunks: %d and %d, want 2 each", len(m1), len(m2))
	}
	// Both Installs running at once: v1 chunk 1, v2 chunk 1, v2 chunk 2, v1 chunk 2.
	acked := 0 // chunks the member answered without error: an ACK for a synchronized sender
	for i, data := range [][]byte{m1[0], m2[0], m2[1], m1[1]} {
		if err := farm.Receive(b.d, &channel.Message{Source: ach.LocalMember(), Data: data}); err != nil {
			t.Logf("message %d: %v", i, err)
		} else {
			acked++
		}
	}
	got, err := os.ReadFile(filepath.Join(b.deploy, "shop.war"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v1) && !bytes.Equal(got, v2) {
		t.Errorf("the member installed %d bytes that are neither version (first half v1: %v, second half v2: %v); "+
			"%d of 4 chunks acknowledged without error", len(got), bytes.Equal(got[:chunk], v1[:chunk]),
			bytes.Equal(got[chunk:], v2[chunk:]), acked)
	}
	if n := b.d.Stats().Incomplete; n != 0 {
		t.Errorf("%d incomplete files left waiting for chunks that will never come", n)
	}
}

// gateChannel is a channel whose SendMessage records the FileMessages sent and holds
// the first one until gate is closed.
type gateChannel struct {
	*channel.Channel
	entered, gate chan struct{}
	once          sync.Once
	mu            sync.Mutex
	sent          []*farm.FileMessage
}

func (c *gateChannel) SendMessage(_ context.Context, _ []channel.Member, msg *channel.Message) error {
	m, err := farm.DecodeMessage(msg.Data, jserial.DecoderConfig{})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.sent = append(c.sent, m.(*farm.FileMessage))
	c.mu.Unlock()
	first := false
	c.once.Do(func() { first = true; close(c.entered) })
	if first {
		<-c.gate
	}
	return nil
}

func (c *gateChannel) messages() []*farm.FileMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

// TestInstallsOfOneNameTakeTurns: while an Install sends shop.war, a second Install of
// a shop.war waits for it (here until its context ends, having sent nothing), and one
// of another name goes ahead; each transfer's chunks carry one timestamp, a later
// transfer's a greater one.
func TestInstallsOfOneNameTakeTurns(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, ach := nw.StartChannel(t)
	nw.StartChannel(t) // a member to send to
	gc := &gateChannel{Channel: ach, entered: make(chan struct{}), gate: make(chan struct{})}
	const chunk = 4096
	a, err := farm.New(farm.Config{Channel: gc, DeployDir: t.TempDir(), TempDir: t.TempDir(), ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(ctx) })
	v1 := writeFile(t, t.TempDir(), "shop.war", content(2*chunk, 1))
	v2 := writeFile(t, t.TempDir(), "shop.war", content(2*chunk, 2))
	first := make(chan error, 1)
	go func() { first <- a.Install(ctx, "/shop", v1) }()
	select {
	case <-gc.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the first Install sent nothing")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := a.Install(short, "/shop", v2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second Install of shop.war while the first sends: %v, want it to wait until its context ends", err)
	}
	if n := len(gc.messages()); n != 1 {
		t.Fatalf("%d chunks sent while the first Install waits on its chunk 1, want 1", n)
	}
	other := writeFile(t, t.TempDir(), "other.war", content(10, 3))
	if err := a.Install(ctx, "/other", other); err != nil {
		t.Errorf("Install of another name while shop.war is sent: %v", err)
	}
	close(gc.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := a.Install(ctx, "/shop", v2); err != nil {
		t.Fatal(err)
	}
	var shop []*farm.FileMessage
	for _, m := range gc.messages() {
		if m.FileName == "shop.war" {
			shop = append(shop, m)
		}
	}
	if len(shop) != 4 {
		t.Fatalf("%d chunks of shop.war sent, want 4", len(shop))
	}
	for i, m := range shop {
		if want := int32(i%2 + 1); m.Number != want {
			t.Errorf("chunk %d of shop.war sent is number %d, want %d: the transfers interleaved", i, m.Number, want)
		}
	}
	if shop[0].Timestamp != shop[1].Timestamp || shop[2].Timestamp != shop[3].Timestamp ||
		shop[2].Timestamp <= shop[0].Timestamp {
		t.Errorf("timestamps %d %d, %d %d: want one per transfer, the later greater", shop[0].Timestamp,
			shop[1].Timestamp, shop[2].Timestamp, shop[3].Timestamp)
	}
}

// TestChunksStampedEach: a Go node built before a transfer's chunks shared one
// timestamp stamps each chunk with the time it sends it; chunks that arrive in order
// continue their file. (Two such transfers of one name from one node interleaved are
// told apart by nothing, as in Tomcat.)
func TestChunksStampedEach(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	for v, stamp := range []int64{1000, 2000} {
		parts := [][]byte{content(100, byte(v)), content(100, byte(v+1)), content(10, byte(v+2))}
		for i, p := range parts {
			if err := send(t, a, b, &farm.FileMessage{Timestamp: stamp + int64(i), Number: int32(i + 1), Total: 3,
				Data: p, FileName: "x.war", ContextName: "/x"}); err != nil {
				t.Fatalf("file %d, chunk %d: %v", v, i+1, err)
			}
		}
		got, err := os.ReadFile(filepath.Join(b.deploy, "x.war"))
		if want := bytes.Join(parts, nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file %d: %d bytes (%v), want %d", v, len(got), err, len(want))
		}
	}
	if st := b.d.Stats(); st.FilesReceived != 2 || st.Refused != 0 || st.Incomplete != 0 {
		t.Errorf("stats %+v", st)
	}
}
