package rpc

import (
	"context"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/static"
)

// TestNonMemberPayloadNotDecoded: the dispatcher's AcceptNonMember, which the channel asks
// for every non-member's message before dropping it, reads the rpc id alone (it comes
// before the payload) to look whether the rpc.Channel of that id takes non-members. Before,
// it decoded the whole RpcMessage, payload included: on a node where no rpc.Channel takes
// non-members (replmap, the default), a stranger's message was Java-deserialized in full
// before the sender check dropped it. An Object[] of nulls (one byte each on the wire, a
// 16-byte slot each decoded) made the node allocate 17 times the frame per message, up to
// jserial's 32 times for denser shapes, on every receiver worker at once.
func TestNonMemberPayloadNotDecoded(t *testing.T) {
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	callee, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: static.New(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, callee)
	closed, err := New(Config{Channel: callee, ID: []byte("closed"),
		Handler: HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close(context.Background())

	sn := nw.NewNode()
	stranger, err := channel.New(channel.Config{Transport: sn.Transport(), Membership: static.New(callee.LocalMember()), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, stranger)

	const nulls = 2 << 20
	objArray := &jserial.ClassDesc{Name: "[Ljava.lang.Object;", SUID: -8012369246846506644, Flags: jserial.SCSerializable}
	b, err := (&message{uuid: []byte("u"), rpcID: []byte("closed"), payload: &jserial.Array{Class: objArray, Elems: make([]any, nulls)}}).marshal()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = stranger.SendMessage(context.Background(), []channel.Member{callee.LocalMember()},
		&channel.Message{Options: channel.OptUseAck | channel.OptSyncAck, Data: b})
	runtime.ReadMemStats(&after)
	if err == nil || callee.Stats().NonMemberDropped != 1 {
		t.Fatalf("the stranger's message: %v, dropped %d; want it refused as a non-member's", err, callee.Stats().NonMemberDropped)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(4*len(b)) {
		t.Errorf("a stranger's %d KiB message, dropped as a non-member's, made the node allocate %d MiB (%.1f times the message)",
			len(b)>>10, alloc>>20, float64(alloc)/float64(len(b)))
	}
}
