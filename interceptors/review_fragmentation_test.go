package interceptors

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// pieceMsg is piece idx of count of message id from src, carrying chunk, as the wire does.
func pieceMsg(src channel.Member, id []byte, chunk []byte, idx, count int) *channel.Message {
	d := append([]byte(nil), chunk...)
	d = binary.BigEndian.AppendUint32(d, uint32(idx))
	d = binary.BigEndian.AppendUint32(d, uint32(count))
	return &channel.Message{ID: id, Source: src, Data: append(d, fragPiece)}
}

// FragmentationConfig.MaxMessageSize is documented as capping "the size of a message being
// reassembled, and so the memory one sender can make a receiver hold". It caps one
// message only: a sender that starts many messages (a new message id each, one piece
// each, never the last piece) makes the receiver hold MaxMessageSize per message id, with
// no limit on the number of ids, for Expire (60 s) each. With the defaults (256 MiB, 16
// MiB frames) one peer holds gigabytes; the pieces never reach the channel's member check,
// so a stranger's connection is not even closed.
func TestReviewFragmentationBoundsOneSender(t *testing.T) {
	nw := channeltest.NewNetwork()
	const limit = 1000
	f := newFrag(t, FragmentationConfig{MaxMessageSize: limit})
	n := newNode(t, nw, f)
	startNodes(t, n)
	src := fakeMember(3)
	chunk := bytes.Repeat([]byte{'x'}, 600) // under the limit per message
	const messages = 50
	for range messages {
		// Errors (refusals) are fine: what matters is what stays held.
		_ = n.tap.inject(pieceMsg(src, channel.NewMessageID(), chunk, 0, 2))
	}
	f.mu.Lock()
	held := 0
	for k, c := range f.pending {
		if k.src == src.Key() {
			held += c.size
		}
	}
	f.mu.Unlock()
	if held > limit {
		t.Fatalf("one sender makes the receiver hold %d bytes of incomplete messages (%d pending, %d refused), MaxMessageSize is %d",
			held, f.Stats().Pending, f.Stats().Refused, limit)
	}
}
