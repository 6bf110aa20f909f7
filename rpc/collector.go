package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// collector gathers the replies of one call (Java's RpcCollector). Unlike Java's, which
// counts replies and NoRpcChannelReplies whoever sends them, it counts each member once
// (sameMember): a member that replied twice, or whose send failed and that answered
// NoRpcChannelReply too, does not complete a call for another member that did not reply.
type collector struct {
	mode      Mode
	to        []channel.Member // the destinations
	mu        sync.Mutex
	replied   []channel.Member // the destinations that replied, once each
	gone      []channel.Member // destinations that did not reply and are no longer expected: send failed, NoRpcChannelReply, left
	left      []channel.Member // those of gone that left the channel (memberLeft)
	others    []channel.Member // members that are not destinations and replied, at most len(to)
	responses []Response
	losses    []error // messages lost from destinations that had not replied (maxLost)
	finished  bool    // the call returned: later replies are left-overs
	done      chan struct{}
	closed    bool
}

// maxLost bounds the losses a call keeps to report.
const maxLost = 4

// sameMember reports whether a and b are the same member: channel.Member.Equal, or the
// same host and port when one has no unique id (a static membership's configured
// member).
func sameMember(a, b channel.Member) bool {
	if a.UniqueID == (channel.UniqueID{}) || b.UniqueID == (channel.UniqueID{}) {
		return a.Port == b.Port && bytes.Equal(a.Host, b.Host)
	}
	return a.Equal(b)
}

// distinct returns ms without repeats (sameMember).
func distinct(ms []channel.Member) []channel.Member {
	out := make([]channel.Member, 0, len(ms))
	for _, m := range ms {
		if !hasMember(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func hasMember(ms []channel.Member, m channel.Member) bool {
	return slices.ContainsFunc(ms, func(x channel.Member) bool { return sameMember(x, m) })
}

// messageLost records that a message from src was lost while the call waited, if src is
// a destination that has not replied: it may have been the reply.
func (col *collector) messageLost(src channel.Member, err error) {
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.finished || len(col.losses) >= maxLost || !hasMember(col.to, src) || hasMember(col.replied, src) {
		return
	}
	col.losses = append(col.losses, err)
}

// add records a reply or a NoRpcChannelReply; false means msg is a left-over: the call
// is over, from replied already, or from is not a destination and answers
// NoRpcChannelReply or is one such member too many (at most len(to) are kept). A
// non-destination's reply is among the responses but completes nothing (Java counts it).
func (col *collector) add(m *message, from channel.Member) bool {
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.finished || hasMember(col.replied, from) || hasMember(col.others, from) {
		return false
	}
	if !hasMember(col.to, from) {
		// Not a destination: its reply is a response, as in Java, but completes nothing.
		if m.noChannel || len(col.others) >= len(col.to) {
			return false
		}
		col.others = append(col.others, from)
		col.responses = append(col.responses, Response{Member: from, Message: m.payload})
		return true
	}
	if m.noChannel {
		if !hasMember(col.gone, from) {
			col.gone = append(col.gone, from)
		}
	} else {
		// A member whose send was reported failed (an ACK that came too late) got the
		// request after all: its reply counts, and it is no longer gone.
		col.gone = slices.DeleteFunc(col.gone, func(g channel.Member) bool { return sameMember(g, from) })
		col.left = slices.DeleteFunc(col.left, func(g channel.Member) bool { return sameMember(g, from) })
		col.replied = append(col.replied, from)
		col.responses = append(col.responses, Response{Member: from, Message: m.payload})
	}
	col.check()
	return true
}

// lost stops counting members the request could not be sent to, unless they replied.
func (col *collector) lost(faulty []channel.FaultyMember) {
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, f := range faulty {
		if hasMember(col.to, f.Member) && !hasMember(col.replied, f.Member) && !hasMember(col.gone, f.Member) {
			col.gone = append(col.gone, f.Member)
		}
	}
	col.check()
}

// memberLeft stops counting mb, a destination that left the channel before it replied,
// while the call is not complete yet.
func (col *collector) memberLeft(mb channel.Member) {
	col.mu.Lock()
	defer col.mu.Unlock()
	if col.closed || col.finished || !hasMember(col.to, mb) || hasMember(col.replied, mb) || hasMember(col.gone, mb) {
		return
	}
	col.gone = append(col.gone, mb)
	col.left = append(col.left, mb)
	col.check()
}

func (col *collector) check() {
	if !col.closed && col.complete() {
		col.closed = true
		close(col.done)
	}
}

// complete is RpcCollector.isComplete, with the members still expected: the
// destinations less those gone.
func (col *collector) complete() bool {
	expected := len(col.to) - len(col.gone)
	if expected <= 0 {
		return true
	}
	switch col.mode {
	case AllReply:
		return len(col.replied) >= expected
	case MajorityReply:
		return 2*len(col.replied) >= expected
	case FirstReply:
		return len(col.replied) > 0
	}
	return false
}

// finish ends the call and returns its responses, the losses messageLost recorded, and an
// error wrapping ErrMemberLeft naming the destinations that left before they replied.
func (col *collector) finish() ([]Response, error, error) {
	col.mu.Lock()
	defer col.mu.Unlock()
	col.finished = true
	var left error
	if len(col.left) > 0 {
		names := make([]string, len(col.left))
		for i, m := range col.left {
			names[i] = m.Addr()
		}
		left = fmt.Errorf("%w: %s", ErrMemberLeft, strings.Join(names, ", "))
	}
	return col.responses, errors.Join(col.losses...), left
}

// memberLeft tells the calls in progress that mb left the channel.
func (c *Channel) memberLeft(mb channel.Member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, col := range c.pending {
		col.memberLeft(mb)
	}
}

// messageLost tells the calls in progress that a message from src was lost.
func (c *Channel) messageLost(src channel.Member, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, col := range c.pending {
		col.messageLost(src, err)
	}
}
