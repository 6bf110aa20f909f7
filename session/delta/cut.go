package delta

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
)

// Partitions that cut only some links (Config.ClusterSize). When a and c no longer reach
// each other but both reach b, each still has a majority in view, so the quorum alone
// lets both serve: a's changes reach b but not c, and c serves its stale copies (or
// acknowledges changes made on them). So a node that loses sight of a member asks the
// others to probe it: each that lists the member sends it a message with use_ack (a
// ping naming the requester) and tells the requester whether it was acknowledged. A
// member another one reaches is cut off from this node only; one no member reaches has
// left or died, and nothing changes. The ping also tells the member probed that the
// requester cannot see it, so each side learns of the cut as soon as either notices.
//
// Of two nodes cut off from each other, the one with the higher unique id stops serving
// (outranked), as a node without the quorum does: it acknowledges no change, its
// middleware serves no session, and once no cut is confirmed for cutExpiry (the link is
// back, or the other node is gone for every member) it refreshes its copies from the
// members before serving again (refresh.go). The one with the lower id goes on: its
// changes reach every member it sees, and every node that still serves sees it, so no
// node serves a copy that misses an acknowledged change.
//
// A ping can be stale: the requester may list this node again by the time it arrives (a
// probe requested just before the member came back, or one its prober handled late), and
// the cut it confirms would keep this node down for cutExpiry. So a node cut off from a
// member it lists checks the cut with that member: a message with use_ack and sync_ack
// (cutCheck), which a node acknowledges only if it lists the sender (a non-member's is
// refused, receive). Acknowledged, and no confirmation of the cut arrived since it was
// sent, the cut is over at once: the member listed this node after every claim of the
// contrary. The check goes out when a cut by a member in view is confirmed and at each
// round of probes while it lasts.
//
// A member that lists this node can send such pings over and over (or have them sent), and
// each would stand this node down and, the check ending the cut, make it refresh its
// copies from every member. So once a check ended a cut by a member in view, for
// cutHoldOff a new cut by that member (still in view) waits for a check before this node
// stands down: acknowledged, the cut is over without a stand-down; refused or lost, the
// node stands down then, a check's round trip later than the ping's acknowledgment
// (TestRepeatedStalePingsStandDownOnce).
//
// The messages are in BinaryCodec's family (Tomcat nodes do not read them): a cluster
// with another codec does not probe.

// cutMagic starts the probe messages: magic | kind | 16-byte unique id | [reached].
var cutMagic = []byte{0xF5, 'T', 'S', 3}

const (
	cutProbe  = 1 // to the members: the sender cannot see the node named; probe it
	cutPing   = 2 // to the node probed, with use_ack: the node named cannot see you
	cutResult = 3 // to the requester: whether the node named acknowledged the ping
	cutCheck  = 4 // to a member the node named cut off, with use_ack: acknowledged only by a node that lists the sender
)

// Timing of the probes; variables for the tests.
var (
	probeEvery   = time.Second     // rounds of probes for the members out of view
	probeTimeout = time.Second     // a ping's wait for its ACK
	cutExpiry    = 3 * time.Second // a cut not confirmed again for this long is over
	probeGiveUp  = 5 * time.Second // a member no one reached for this long is gone: no more probes
	// cutHoldOff is how long after a check ended a cut by a member a new cut by it waits
	// for a check before this node stands down (see above).
	cutHoldOff = 10 * time.Second
)

// maxAbsent bounds the members out of view that are probed, and the cuts recorded.
const maxAbsent = 64

// maxProbing bounds the probes this node runs at once for other nodes; a request beyond
// it is dropped (its sender asks again at its next round).
const maxProbing = 16

// cuts is a Cluster's view of the partial partitions around this node.
type cuts struct {
	on        atomic.Bool // a manager needs a quorum and the codec can send probes
	outranked atomic.Bool // a node with a lower id is cut off from this one: serve nothing
	pausing   atomic.Bool // probes of a member that just left the view are out: serve nothing yet
	// viewSize is the size of the view the membership listener last saw, set after
	// pausing: a change that went to fewer members was sent after one left, before the
	// probes of it started (Manager.judge).
	viewSize  atomic.Int32
	stepDowns atomic.Uint64
	probes    atomic.Uint64
	probing   chan struct{} // semaphore of the probes run for others (maxProbing)
	// logs writes the stand-downs and the ends of cuts, rate-limited per member: a member
	// can send pings over and over (TestRepeatedStalePingsLogBounded).
	logs *ratelog.Limiter

	mu     sync.Mutex
	self   channel.UniqueID
	absent map[channel.UniqueID]time.Time // members out of view, when one was last reached
	cutBy  map[channel.UniqueID]cutMark   // nodes alive but cut off from this one
	marks  uint64                         // the confirmations of cuts so far
	downBy channel.UniqueID               // the member of the last stand-down
	// ended is when a check last ended a cut by a member (at most maxAbsent, forgotten
	// after cutHoldOff): a new cut by it waits for a check (cutHoldOff).
	ended   map[channel.UniqueID]time.Time
	pending map[channel.UniqueID]*pendingProbe
	started bool
	stop    chan struct{}
}

// cutMark is the last confirmation of a cut: when, and its number (cuts.marks), by which
// a check tells whether another confirmation came while it was out; checking while one is.
type cutMark struct {
	at       time.Time
	n        uint64
	checking bool
	held     bool // waits for its check before this node stands down (cutHoldOff)
}

// firstRoundLimit bounds the first round of probes of a member that just left the view
// (pendingProbe): a probe's ping and its result each wait up to probeTimeout, and the
// round leaves a quarter of probeEvery for the messages around them.
func firstRoundLimit() time.Duration { return 2*probeTimeout + probeEvery/4 }

// pendingProbe is the first round of probes of a member that just left the view: until
// every member answered, or the round's time ran out, this node serves nothing (pausing).
// So the node that notices a cut first learns, before it acknowledges changes the other
// side will miss, whether that side is alive; and a node it pings on another's behalf has
// stood down, if it must, when the ping is acknowledged (synchronized ack).
type pendingProbe struct {
	asked map[channel.MemberKey]bool // the members asked; true once one answered
	timer *time.Timer
}

// askedOf reports whether p (nil: none) asked src.
func (p *pendingProbe) askedOf(src channel.Member) bool {
	if p == nil {
		return false
	}
	_, asked := p.asked[src.Key()]
	return asked
}

// over reports whether every member asked answered or left the view.
func (p *pendingProbe) over(view []channel.Member) bool {
	for _, m := range view {
		if answered, ok := p.asked[m.Key()]; ok && !answered {
			return false
		}
	}
	return true
}

// enableCuts starts probing, once, for a manager that needs a quorum; without a batch
// codec or a channel that tells its own member, the cluster does not probe.
func (c *Cluster) enableCuts() {
	if _, ok := c.codec.(batchCodec); !ok {
		return
	}
	lm, ok := c.ch.(interface{ LocalMember() channel.Member })
	if !ok {
		return
	}
	c.cuts.mu.Lock()
	defer c.cuts.mu.Unlock()
	if c.cuts.started {
		return
	}
	c.cuts.started = true
	c.cuts.self = lm.LocalMember().UniqueID
	c.cuts.absent = map[channel.UniqueID]time.Time{}
	c.cuts.cutBy = map[channel.UniqueID]cutMark{}
	c.cuts.ended = map[channel.UniqueID]time.Time{}
	c.cuts.pending = map[channel.UniqueID]*pendingProbe{}
	c.cuts.stop = make(chan struct{})
	c.cuts.viewSize.Store(int32(len(c.ch.Members())))
	c.cuts.on.Store(true)
	stop := c.cuts.stop
	c.goTracked(func() {
		t := time.NewTicker(probeEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				c.probeRound()
			}
		}
	})
}

// stopCuts ends the probing (Close).
func (c *Cluster) stopCuts() {
	c.cuts.mu.Lock()
	defer c.cuts.mu.Unlock()
	if c.cuts.stop != nil {
		close(c.cuts.stop)
		c.cuts.stop = nil
	}
	for id, p := range c.cuts.pending {
		p.timer.Stop()
		delete(c.cuts.pending, id)
	}
	c.cuts.pausing.Store(false)
}

// cutMemberGone starts probing a member that left this node's view.
func (c *Cluster) cutMemberGone(mem channel.Member) {
	if !c.cuts.on.Load() {
		return
	}
	c.cuts.mu.Lock()
	if _, ok := c.cuts.absent[mem.UniqueID]; !ok && len(c.cuts.absent) >= maxAbsent {
		c.cuts.viewSize.Store(int32(len(c.ch.Members()))) // not probed: no pause either
		c.cuts.mu.Unlock()
		return
	}
	c.cuts.absent[mem.UniqueID] = time.Now()
	id := mem.UniqueID
	unheld := false // a cut by a member out of view waits for no check
	if mark, ok := c.cuts.cutBy[id]; ok && mark.held {
		mark.held, unheld = false, true
		c.cuts.cutBy[id] = mark
	}
	view := c.ch.Members()
	if len(view) > 0 && c.cuts.pending[id] == nil {
		p := &pendingProbe{asked: map[channel.MemberKey]bool{}}
		for _, m := range view {
			p.asked[m.Key()] = false
		}
		p.timer = time.AfterFunc(firstRoundLimit(), func() { c.endPending(id, p) })
		c.cuts.pending[id] = p
		c.cuts.pausing.Store(true)
	}
	var over []channel.UniqueID // rounds that waited only for the member that left
	for pid, p := range c.cuts.pending {
		if p.over(view) {
			over = append(over, pid)
		}
	}
	c.cuts.viewSize.Store(int32(len(view))) // after pausing: see viewSize
	c.cuts.mu.Unlock()
	if unheld {
		c.judgeCuts()
	}
	c.endPendings(over)
	c.goTracked(func() { c.sendProbes([]channel.UniqueID{id}) })
}

// endPendings ends the rounds of ids that are over.
func (c *Cluster) endPendings(ids []channel.UniqueID) {
	for _, id := range ids {
		c.cuts.mu.Lock()
		p := c.cuts.pending[id]
		c.cuts.mu.Unlock()
		if p != nil {
			c.endPending(id, p)
		}
	}
}

// endPending ends the first round of probes of id (p), answered or run out.
func (c *Cluster) endPending(id channel.UniqueID, p *pendingProbe) {
	c.cuts.mu.Lock()
	if c.cuts.pending[id] == p {
		p.timer.Stop()
		delete(c.cuts.pending, id)
	}
	pausing := len(c.cuts.pending) > 0
	c.cuts.mu.Unlock()
	if c.cuts.pausing.Swap(pausing) && !pausing {
		for _, m := range c.running() {
			m.noteView()
		}
	}
}

// cutMemberAdded ends the probing of a member back in view, and its cut.
func (c *Cluster) cutMemberAdded(mem channel.Member) {
	if !c.cuts.on.Load() {
		return
	}
	c.cuts.mu.Lock()
	delete(c.cuts.absent, mem.UniqueID)
	delete(c.cuts.cutBy, mem.UniqueID)
	p := c.cuts.pending[mem.UniqueID]
	c.cuts.viewSize.Store(int32(len(c.ch.Members())))
	c.cuts.mu.Unlock()
	if p != nil {
		c.endPending(mem.UniqueID, p)
	}
	c.judgeCuts()
}

// probeRound forgets the cuts not confirmed lately and the members out of view no one
// reached lately, and probes the others again.
func (c *Cluster) probeRound() {
	now := time.Now()
	var ids []channel.UniqueID
	c.cuts.mu.Lock()
	for id, reached := range c.cuts.absent {
		if now.Sub(reached) > probeGiveUp {
			delete(c.cuts.absent, id)
			continue
		}
		ids = append(ids, id)
	}
	for id, at := range c.cuts.ended {
		if now.Sub(at) > cutHoldOff {
			delete(c.cuts.ended, id)
		}
	}
	c.cuts.mu.Unlock()
	c.judgeCuts()
	c.sendProbes(ids)
	for _, m := range c.ch.Members() {
		c.checkCut(m)
	}
}

// sendProbes asks every member to probe each of ids.
func (c *Cluster) sendProbes(ids []channel.UniqueID) {
	to := c.ch.Members()
	if len(to) == 0 {
		return
	}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := c.ch.Send(ctx, to, appendCut(nil, cutProbe, id, false), 0)
		cancel()
		c.cuts.probes.Add(1)
		if err != nil {
			c.log.Debug("delta: probe request", "member", id.String(), "err", err)
		}
	}
}

func appendCut(b []byte, kind byte, id channel.UniqueID, reached bool) []byte {
	b = append(append(append(b, cutMagic...), kind), id[:]...)
	if kind == cutResult {
		r := byte(0)
		if reached {
			r = 1
		}
		b = append(b, r)
	}
	return b
}

var errBadCut = errors.New("bad probe message")

func parseCut(data []byte) (kind byte, id channel.UniqueID, reached bool, err error) {
	rest := data[len(cutMagic):]
	if len(rest) < 1+len(id) {
		return 0, id, false, errBadCut
	}
	kind, rest = rest[0], rest[1:]
	copy(id[:], rest)
	rest = rest[len(id):]
	switch {
	case kind == cutResult && len(rest) == 1 && rest[0] <= 1:
		return kind, id, rest[0] == 1, nil
	case (kind == cutProbe || kind == cutPing || kind == cutCheck) && len(rest) == 0:
		return kind, id, false, nil
	}
	return 0, id, false, errBadCut
}

// receiveCut handles a probe message from the member src, whose messages name it by the
// unique id by (src's own, unless the membership lists it by address alone).
func (c *Cluster) receiveCut(src channel.Member, by channel.UniqueID, data []byte) {
	kind, id, reached, err := parseCut(data)
	if err != nil {
		c.malformed.Add(1)
		c.refusals.Log(slog.LevelDebug, src.Addr(), "malformed", "delta: ignoring a malformed probe message", "size", len(data))
		return
	}
	if kind == cutCheck {
		return // listed (receive): acknowledged, which is the answer
	}
	if !c.cuts.on.Load() && kind != cutProbe {
		// A node whose managers need no quorum still probes for the others, but keeps no
		// cuts of its own.
		return
	}
	switch kind {
	case cutProbe:
		select {
		case c.cuts.probing <- struct{}{}:
			c.goTracked(func() {
				defer func() { <-c.cuts.probing }()
				c.probe(src, by, id)
			})
		default: // busy: the requester asks again at its next round
		}
	case cutPing: // the node named cannot see this one, though it is alive
		c.confirmCut(id)
	case cutResult:
		if reached && !c.inView(id) {
			c.confirmCut(id)
		}
		view := c.ch.Members()
		c.cuts.mu.Lock()
		p, done := c.cuts.pending[id], false
		if p.askedOf(src) {
			p.asked[src.Key()] = true
			done = p.over(view)
		}
		c.cuts.mu.Unlock()
		if done {
			c.endPending(id, p)
		}
	}
}

// probe pings the member with unique id target for requester, which cannot see it and
// whose messages name it by the unique id by, and tells requester whether the ping was
// acknowledged.
func (c *Cluster) probe(requester channel.Member, by, target channel.UniqueID) {
	reached := false
	if target != by {
		for _, m := range c.ch.Members() {
			if m.UniqueID == target {
				ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				reached = c.ch.Send(ctx, []channel.Member{m}, appendCut(nil, cutPing, by, false),
					channel.OptUseAck|channel.OptSyncAck) == nil // acknowledged once the member took it in
				cancel()
				break
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := c.ch.Send(ctx, []channel.Member{requester}, appendCut(nil, cutResult, target, reached), 0); err != nil {
		c.log.Debug("delta: probe result", "to", requester.Addr(), "err", err)
	}
}

func (c *Cluster) inView(id channel.UniqueID) bool {
	for _, m := range c.ch.Members() {
		if m.UniqueID == id {
			return true
		}
	}
	return false
}

// confirmCut records that the node with unique id is alive but cut off from this one.
// The zero id names no node (a member listed by address alone has no id in its record):
// a cut by it is ignored, as it would outrank every node and no member could end it
// (TestCutByNoIDStandsNothingDown).
func (c *Cluster) confirmCut(id channel.UniqueID) {
	if !c.cuts.on.Load() || id == (channel.UniqueID{}) {
		return
	}
	now := time.Now()
	listed := c.inView(id)
	c.cuts.mu.Lock()
	if id == c.cuts.self {
		c.cuts.mu.Unlock()
		return
	}
	if mark, ok := c.cuts.cutBy[id]; ok || len(c.cuts.cutBy) < maxAbsent {
		c.cuts.marks++
		if !ok {
			ended, recent := c.cuts.ended[id]
			mark.held = listed && recent && now.Sub(ended) <= cutHoldOff
		} else if !listed {
			mark.held = false
		}
		mark.at, mark.n = now, c.cuts.marks
		c.cuts.cutBy[id] = mark
	}
	if _, ok := c.cuts.absent[id]; ok {
		c.cuts.absent[id] = now
	}
	c.cuts.mu.Unlock()
	c.judgeCuts()
	for _, m := range c.ch.Members() {
		if m.UniqueID == id {
			c.checkCut(m)
		}
	}
}

// checkCut checks a cut by mem, a member in view, unless no cut by it is recorded or a
// check of it is out: if mem acknowledges the check, it lists this node, and the cut ends
// unless another confirmation of it came meanwhile (a cut confirmed by a stale ping).
func (c *Cluster) checkCut(mem channel.Member) {
	id := mem.UniqueID
	c.cuts.mu.Lock()
	mark, ok := c.cuts.cutBy[id]
	if !ok || mark.checking {
		c.cuts.mu.Unlock()
		return
	}
	mark.checking = true
	c.cuts.cutBy[id] = mark
	c.cuts.mu.Unlock()
	c.goTracked(func() {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := c.ch.Send(ctx, []channel.Member{mem}, appendCut(nil, cutCheck, id, false),
			channel.OptUseAck|channel.OptSyncAck)
		cancel()
		c.cuts.mu.Lock()
		cur, recorded := c.cuts.cutBy[id]
		over := recorded && cur.n == mark.n && err == nil
		again := recorded && cur.n != mark.n // confirmed again meanwhile: check that one
		unheld := recorded && cur.n == mark.n && err != nil && cur.held
		if over {
			delete(c.cuts.cutBy, id)
			if _, ok := c.cuts.ended[id]; ok || len(c.cuts.ended) < maxAbsent {
				c.cuts.ended[id] = time.Now()
			}
		} else if recorded {
			cur.checking = false
			if unheld {
				cur.held = false // the member does not list this node: stand down
			}
			c.cuts.cutBy[id] = cur
		}
		c.cuts.mu.Unlock()
		switch {
		case unheld:
			c.judgeCuts()
		case over:
			c.cuts.logs.Log(slog.LevelInfo, id.String(), "cut over",
				"delta: a member said to be cut off from this node lists it: that cut is over", "member", id.String())
			c.judgeCuts()
		case again:
			c.checkCut(mem)
		}
	})
}

// standDownBy returns the id of the member whose cut last stood this node down.
func (c *Cluster) standDownBy() string {
	c.cuts.mu.Lock()
	defer c.cuts.mu.Unlock()
	return c.cuts.downBy.String()
}

// judgeCuts forgets the cuts not confirmed for cutExpiry and sets outranked: whether a
// node with a lower unique id is cut off from this one. The managers hear of a change
// (noteView).
func (c *Cluster) judgeCuts() {
	now := time.Now()
	out := false
	var by channel.UniqueID
	c.cuts.mu.Lock()
	for id, mark := range c.cuts.cutBy {
		if now.Sub(mark.at) > cutExpiry {
			delete(c.cuts.cutBy, id)
			continue
		}
		if !mark.held && bytes.Compare(id[:], c.cuts.self[:]) < 0 {
			out, by = true, id
		}
	}
	if out {
		c.cuts.downBy = by
	}
	last := c.cuts.downBy
	c.cuts.mu.Unlock()
	if c.cuts.outranked.Swap(out) == out {
		return
	}
	if out {
		c.cuts.stepDowns.Add(1)
		c.cuts.logs.Log(slog.LevelWarn, by.String(), "stand-down",
			"delta: cut off from a member that others still reach, whose id is lower: serving no session until the cut is over",
			"member", by.String())
	} else {
		c.cuts.logs.Log(slog.LevelInfo, last.String(), "stand-down over",
			"delta: no cut from a member with a lower id is confirmed any more")
	}
	for _, m := range c.running() {
		m.noteView()
	}
}
