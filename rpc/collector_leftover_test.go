package rpc

import (
	"testing"

	"github.com/gotribes/tribes/channel"
)

// What a call does not count goes to Config.LeftOver (add returns false): a member's
// second reply, a non-destination's NoRpcChannelReply, and non-destinations' replies
// beyond as many as there are destinations; a non-destination's reply within that is
// among the responses (docs/rpc.md, Call's documentation).
func TestCollectorLeftOvers(t *testing.T) {
	mk := func(port int32, id byte) channel.Member {
		return channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, UniqueID: channel.UniqueID{id}}
	}
	x, y, z, w := mk(1, 1), mk(2, 2), mk(3, 3), mk(4, 4)
	reply := &message{reply: true, payload: "r"}
	noChannel := &message{reply: true, noChannel: true}
	col := &collector{mode: AllReply, to: distinct([]channel.Member{x}), done: make(chan struct{})}
	if col.add(noChannel, z) {
		t.Error("a non-destination's NoRpcChannelReply was counted, want a left-over")
	}
	if !col.add(reply, z) {
		t.Error("a non-destination's first reply went to LeftOver, want it among the responses")
	}
	if col.add(reply, w) {
		t.Error("a second non-destination's reply (1 destination) was kept, want a left-over")
	}
	if col.complete() {
		t.Error("non-destinations' replies completed the call")
	}
	if !col.add(reply, x) {
		t.Error("the destination's reply went to LeftOver")
	}
	if len(col.responses) != 2 || !col.responses[0].Member.Equal(z) || !col.responses[1].Member.Equal(x) {
		t.Errorf("responses %+v, want z's and x's replies", col.responses)
	}
	col = &collector{mode: AllReply, to: distinct([]channel.Member{x, y}), done: make(chan struct{})}
	if !col.add(reply, x) || col.add(reply, x) {
		t.Error("x's first reply must count and its second go to LeftOver")
	}
	var got []channel.Member
	for _, r := range col.responses {
		got = append(got, r.Member)
	}
	if len(got) != 1 || !got[0].Equal(x) {
		t.Errorf("responses from %v, want x's one reply", got)
	}
}
