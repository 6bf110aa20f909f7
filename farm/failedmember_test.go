package farm_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// TestFailedMemberGetsNoMoreChunks: docs/farm.md says a member that fails a chunk gets no
// more, and Install returns a *channel.SendError naming it after the others got the whole
// file. The sender's chunks of 1000 bytes are above one member's MaxChunkBytes (500), so
// it refuses the first with a FAIL_ACK; of the file's five chunks it is sent that one
// alone, while the other member installs the whole file.
func TestFailedMemberGetsNoMoreChunks(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{ChunkSize: 1000})
	b := startNode(t, nw, farm.Config{})
	bad := startNode(t, nw, farm.Config{MaxChunkBytes: 500})
	var toBad atomic.Int64
	bad.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if m.Source.Key() == a.ch.LocalMember().Key() {
			toBad.Add(1)
		}
		return nil
	}))
	data := content(5000, 4)
	err := a.d.Install(context.Background(), "/shop", writeFile(t, t.TempDir(), "shop.war", data))
	faulty := channel.FaultyMembers(err)
	if len(faulty) != 1 || faulty[0].Member.Key() != bad.ch.LocalMember().Key() {
		t.Fatalf("Install: %v, want a *channel.SendError naming the member that refused the chunk", err)
	}
	if got, err := os.ReadFile(filepath.Join(b.deploy, "shop.war")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the other member: %d bytes, %v; want the whole file", len(got), err)
	}
	if n := toBad.Load(); n != 1 {
		t.Errorf("the member that refused the first chunk was sent %d of the 5 chunks, want 1", n)
	}
	if st := bad.d.Stats(); st.Refused != 1 || st.FilesReceived != 0 {
		t.Errorf("refusing member's stats %+v, want one refusal and no file", st)
	}
}
