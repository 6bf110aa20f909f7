package rpc

import (
	"testing"

	"github.com/gotribes/tribes/channel"
)

// The collector counts each member once: a second reply, a second NoRpcChannelReply, a
// NoRpcChannelReply or a reply from a member counted failed does not complete an
// AllReply call to x and y while y has not replied; y's reply does. A destination listed
// twice counts once, and one without a unique id (static membership's configured member)
// is matched by host and port. A member that is not a destination (z) completes nothing.
func TestCollectorCountsMembersOnce(t *testing.T) {
	mk := func(port int32, id byte) channel.Member {
		return channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, UniqueID: channel.UniqueID{id}}
	}
	x, y, z := mk(1, 1), mk(2, 2), mk(3, 3)
	reply := &message{reply: true, payload: "r"}
	noChannel := &message{reply: true, noChannel: true}
	failed := []channel.FaultyMember{{Member: x}}
	for _, c := range []struct {
		name       string
		yUnknownID bool
		steps      func(col *collector)
	}{
		{"x replies twice", false, func(col *collector) { col.add(reply, x); col.add(reply, x) }},
		{"x failed, replies", false, func(col *collector) { col.lost(failed); col.add(reply, x) }},
		{"x replies, reported failed", false, func(col *collector) { col.add(reply, x); col.lost(failed) }},
		{"x no channel twice", false, func(col *collector) { col.add(noChannel, x); col.add(noChannel, x) }},
		{"x failed, no channel", false, func(col *collector) { col.lost(failed); col.add(noChannel, x) }},
		{"x failed twice", false, func(col *collector) { col.lost(failed); col.lost(failed) }},
		{"y configured without unique id", true, func(col *collector) { col.add(reply, x); col.add(reply, x) }},
		{"z, not a destination, replies", false, func(col *collector) { col.add(reply, x); col.add(reply, z) }},
		{"z, not a destination, no channel", false, func(col *collector) { col.add(reply, x); col.add(noChannel, z) }},
		{"z, not a destination, reported failed", false, func(col *collector) {
			col.add(reply, x)
			col.lost([]channel.FaultyMember{{Member: z}})
		}},
	} {
		to := []channel.Member{x, y, x}
		if c.yUnknownID {
			to[1].UniqueID = channel.UniqueID{}
		}
		col := &collector{mode: AllReply, to: distinct(to), done: make(chan struct{})}
		c.steps(col)
		if col.complete() {
			t.Errorf("%s: AllReply complete with y silent (replied %d, gone %d)", c.name, len(col.replied), len(col.gone))
		}
		col.add(reply, y)
		if !col.complete() {
			t.Errorf("%s: AllReply not complete once y replied (replied %d, gone %d)", c.name, len(col.replied), len(col.gone))
		}
	}
}
