package delta

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// DefaultUnlistedRequestWait is ClusterConfig.UnlistedRequestWait's default.
const DefaultUnlistedRequestWait = 10 * time.Second

// The bounds of the session messages held for senders not listed yet: at most
// maxUnlistedPerSender per sender (as the message names it: one request per application
// of a Tomcat joiner), maxUnlisted in all, each of at most maxUnlistedSize bytes (a
// Tomcat EVT_GET_ALL_SESSIONS takes some hundred), so 128 KiB at most.
const (
	maxUnlistedPerSender = 8
	maxUnlisted          = 32
	maxUnlistedSize      = 4 << 10
)

// unlisted holds the session messages of senders this node does not list yet, in a
// cluster whose codec is JavaCodec: a Tomcat joiner asks its donor for every session
// once, asynchronously, and waits stateTransferTimeout (60 s) for them without asking
// again, so a request that reaches this node before its membership lists the joiner
// would leave the joiner without sessions. The messages are kept as received, never
// decoded, until the membership lists their sender (Cluster.memberAdded): only then is
// a held EVT_GET_ALL_SESSIONS answered, to the membership's record of the sender; any
// other message is dropped, and so is every message whose wait
// (ClusterConfig.UnlistedRequestWait) ended first.
type unlisted struct {
	mu     sync.Mutex
	held   []*heldMessage // oldest first
	closed bool
}

type heldMessage struct {
	key   channel.MemberKey
	data  []byte
	timer *time.Timer
}

// holdUnlisted keeps raw, a session message from a sender that is not a member, until
// its sender is listed or the wait ends; a message past the bounds is not kept. A
// sender listed meanwhile (its Added event may have come before the message was kept)
// has its messages handled at once.
func (c *Cluster) holdUnlisted(raw *channel.Message) {
	if _, java := c.codec.(objectCodec); !java || c.unlistedWait <= 0 {
		return
	}
	if len(raw.Data) > maxUnlistedSize {
		c.unlistedDropped.Add(1)
		return
	}
	key := raw.Source.Key()
	h := &heldMessage{key: key, data: bytes.Clone(raw.Data)}
	u := &c.unlisted
	u.mu.Lock()
	if u.closed || len(u.held) >= maxUnlisted ||
		countHeld(u.held, key) >= maxUnlistedPerSender {
		u.mu.Unlock()
		c.unlistedDropped.Add(1)
		return
	}
	u.held = append(u.held, h)
	h.timer = time.AfterFunc(c.unlistedWait, func() { c.dropHeld(h) })
	u.mu.Unlock()
	if mem, ok := c.ch.Member(key); ok {
		c.answerHeld(mem)
	}
}

func countHeld(held []*heldMessage, key channel.MemberKey) int {
	n := 0
	for _, h := range held {
		if h.key == key {
			n++
		}
	}
	return n
}

// dropHeld forgets h once its wait ended, unless it was taken already.
func (c *Cluster) dropHeld(h *heldMessage) {
	u := &c.unlisted
	u.mu.Lock()
	defer u.mu.Unlock()
	if i := slices.Index(u.held, h); i >= 0 {
		u.held = slices.Delete(u.held, i, i+1)
		c.unlistedDropped.Add(1)
	}
}

// answerHeld handles the messages held for mem, now a member: its requests for every
// session are dispatched as if they came now, from the membership's record of it (one
// per application, the latest), its other messages are dropped.
func (c *Cluster) answerHeld(mem channel.Member) {
	u := &c.unlisted
	u.mu.Lock()
	var mine []*heldMessage
	u.held = slices.DeleteFunc(u.held, func(h *heldMessage) bool {
		if h.key != mem.Key() {
			return false
		}
		h.timer.Stop()
		mine = append(mine, h)
		return true
	})
	u.mu.Unlock()
	if len(mine) == 0 {
		return
	}
	if rec, ok := c.ch.Member(mem.Key()); ok {
		mem = rec
	}
	answered := map[string]bool{}
	for _, h := range slices.Backward(mine) {
		msg, err := c.codec.DecodeMessage(h.data)
		if err != nil || msg.Event != EventGetAllSessions || answered[msg.Context] {
			c.unlistedDropped.Add(1)
			continue
		}
		answered[msg.Context] = true
		c.unlistedAnswered.Add(1)
		c.log.Info("delta: answering a state transfer request that came before its sender was a member",
			"context", msg.Context, "from", mem.Addr())
		c.dispatch(msg, mem)
	}
}

// closeUnlisted drops every held message; none is held after.
func (c *Cluster) closeUnlisted() {
	u := &c.unlisted
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	for _, h := range u.held {
		h.timer.Stop()
	}
	clear(u.held)
	u.held = nil
}

// heldUnlisted returns how many messages are held, and their bytes.
func (c *Cluster) heldUnlisted() (n, size int) {
	u := &c.unlisted
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, h := range u.held {
		size += len(h.data)
	}
	return len(u.held), size
}
