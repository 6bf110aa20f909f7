package interceptors

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// startElection is Tomcat's startElection without the blocking wait.
func (c *NonBlockingCoordinator) startElection(ctx context.Context, force bool) {
	local := c.local()
	c.mu.Lock()
	others := c.memberList(local)
	view, hasView := c.view, c.hasView
	c.mu.Unlock()
	if len(others) == 0 {
		c.installView([]channel.Member{local}, newViewID())
		return
	}
	if c.suggestedID != nil && time.Since(c.suggestedAt) > c.cfg.WaitTimeout {
		c.log.Warn("tribes coordinator: abandoning an election that did not complete")
		c.suggested, c.suggestedID = nil, nil
	}
	if c.suggestedID != nil {
		if hasView && sameMembers(view, c.suggested) {
			c.suggested, c.suggestedID = nil, nil
		}
		return // an election of ours is running
	}
	all := viewOf(local, others)
	if hasView && sameMembers(view, all) {
		return // the installed view matches the membership
	}
	leader := others[0]
	if CompareAbsolute(local, others[0]) < 0 {
		leader = local
	}
	if leader.Equal(local) || force {
		msg := CoordinationMessage{Leader: leader, Source: local, View: all, ID: newViewID(), Type: CoordRequest}
		id := msg.ID
		c.suggested, c.suggestedID, c.suggestedAt = all, &id, time.Now()
		c.elections.Add(1)
		if err := c.send(ctx, []channel.Member{others[0]}, &msg); err != nil && !errors.Is(err, errRunEnded) {
			c.log.Warn("tribes coordinator: sending election request failed", "to", others[0].String(), "err", err)
		}
		return
	}
	// Not the leader: wait for a token.
	c.received.Store(false)
	c.wait.Reset(c.cfg.WaitTimeout)
}

// errRunEnded: the goroutine's run is no longer the running one; it sends nothing more.
var errRunEnded = errors.New("nonblockingcoordinator: the run ended")

// send sends cm to the members to, unless the goroutine's run is no longer the running
// one (errRunEnded): a Stop that did not wait for it, or gave up, returned, and a Start
// may have begun another run (TestNonBlockingCoordinatorStoppedRunChangesNothing). The
// message is built first, its source asked of the layers below included, so that the
// check is the last step before the send: a send that passed it began before the Stop
// (whose cancel of ctx reaches it), and once Stop marked the run stopped none begins
// (TestNonBlockingCoordinatorSendsNothingAfterItsStop). Stop waits for a send under way,
// as for the rest of the goroutine, within its ctx: a layer below that ignores the
// cancelled ctx holds Stop until the send returned, and nothing is sent after
// (TestNonBlockingCoordinatorStopWaitsForASendUnderWay). A Stop whose ctx ends first
// returns its error, and a send that passed the check reaches the layer below after it,
// whether the layer below held it or the goroutine had not called it yet: only a Stop
// that waits beyond its ctx could close that window.
func (c *NonBlockingCoordinator) send(ctx context.Context, to []channel.Member, cm *CoordinationMessage) error {
	if !c.ownRunning() {
		return errRunEnded // nothing to build
	}
	payload, err := cm.MarshalBinary()
	if err != nil {
		return err
	}
	msg := &channel.Message{
		Options:   channel.OptUseAck,
		Timestamp: time.Now().UnixMilli(),
		ID:        channel.NewMessageID(),
		Source:    c.Next().LocalMember(true),
		Data:      payload,
	}
	if !c.ownRunning() {
		return errRunEnded
	}
	c.sent.Add(1)
	err = c.Next().SendMessage(ctx, to, msg)
	if err != nil {
		c.sendFail.Add(1)
	}
	return err
}

// process handles a received coordination message (Tomcat processCoordMessage).
func (c *NonBlockingCoordinator) process(ctx context.Context, cm CoordinationMessage) {
	c.received.Store(true)
	c.wait.Stop()
	local := c.local()
	merged := c.mergeOnArrive(ctx, local, cm)
	if cm.Type == CoordConf {
		c.handleViewConf(ctx, local, cm, merged)
		return
	}
	if local.Equal(cm.Source) {
		if local.Equal(cm.Leader) || staleSelf(local, cm.Leader) {
			if sameMembers(withoutStaleSelf(local, cm.View), merged) {
				cm.Type, cm.Leader, cm.View = CoordConf, merged[0], merged
				var rest []channel.Member
				for _, m := range cm.View {
					if !m.Equal(local) {
						rest = append(rest, m)
					}
				}
				if len(rest) > 0 {
					if err := c.send(ctx, rest, &cm); err != nil && !errors.Is(err, errRunEnded) {
						c.log.Warn("tribes coordinator: sending view confirmation failed", "err", err)
					}
				}
				c.handleViewConf(ctx, local, cm, merged)
				return
			}
			id := cm.ID
			c.suggested, c.suggestedID, c.suggestedAt = merged, &id, time.Now()
		} else {
			c.suggested, c.suggestedID = nil, nil
		}
		cm.View = keepStaleSelf(local, merged, cm.View)
		c.forward(ctx, local, cm)
		return
	}
	if local.Equal(cm.Leader) || staleSelf(local, cm.Leader) {
		// Tomcat drops the token here and relies on its heartbeat; starting an election of
		// our own (a no-op if nothing changed) converges sooner.
		c.startElection(ctx, false)
		return
	}
	cm.View = keepStaleSelf(local, merged, cm.View)
	c.forward(ctx, local, cm)
}

// mergeOnArrive returns local, the message's view and the membership, in absolute order;
// members new to the membership are added if they are alive, and dropped otherwise.
func (c *NonBlockingCoordinator) mergeOnArrive(ctx context.Context, local channel.Member, cm CoordinationMessage) []channel.Member {
	c.mu.Lock()
	merged := viewOf(local, withoutStaleSelf(local, cm.View), c.memberList(local))
	var unknown []channel.Member
	for _, m := range merged {
		if _, ok := c.members[m.Key()]; !ok && !m.Equal(local) {
			unknown = append(unknown, m)
		}
	}
	c.mu.Unlock()
	for _, m := range unknown {
		if c.knownDead(m) {
			c.deadSkipped.Add(1)
			merged = slices.DeleteFunc(merged, m.Equal)
			continue
		}
		alive := c.cfg.AliveCheck(ctx, m)
		if !c.ownRunning() {
			return merged // the check outlasted the run, which changes nothing more
		}
		if !alive {
			c.markDead(m)
			merged = slices.DeleteFunc(merged, m.Equal)
			continue
		}
		delete(c.dead, m.Key())
		if c.addMember(m, c.own) {
			c.releaseHeld()
		}
	}
	return merged
}

// addMember adds m to the membership and passes MemberAdded up if it is new. On a
// goroutine of run g if not nil: only if g is still the running run, checked in one step
// with the addition and the call's mark in g (as callUpRunning).
func (c *NonBlockingCoordinator) addMember(m channel.Member, g *runGroup) bool {
	c.mu.Lock()
	if g != nil && !c.runningLocked(g) {
		c.mu.Unlock()
		return false
	}
	_, had := c.members[m.Key()]
	c.members[m.Key()] = m
	if !had && g != nil {
		g.up.Add(1)
		defer g.up.Add(-1)
	}
	c.mu.Unlock()
	if !had {
		c.Prev().MemberAdded(m)
	}
	return !had
}

// forward passes the token to the next reachable member after local in its view, naming
// the view's first member as leader (Tomcat sendElectionMsgToNextInline).
func (c *NonBlockingCoordinator) forward(ctx context.Context, local channel.Member, cm CoordinationMessage) {
	idx := slices.IndexFunc(cm.View, local.Equal)
	if idx < 0 || len(cm.View) < 2 {
		return
	}
	cm.Leader = cm.View[0]
	for i := 1; i < len(cm.View); i++ {
		next := cm.View[(idx+i)%len(cm.View)]
		if staleSelf(local, next) {
			continue // never to this node's own address
		}
		err := c.send(ctx, []channel.Member{next}, &cm)
		if err == nil || errors.Is(err, errRunEnded) {
			return
		}
		c.log.Warn("tribes coordinator: passing the election token failed, trying the next member", "to", next.String(), "err", err)
	}
}

// handleViewConf installs a confirmed view (Tomcat handleViewConf). Unlike Tomcat, which
// installs the confirmation's view as it is, it installs only the members of that view that
// are in merged: known to the membership, or alive (mergeOnArrive dropped the others).
func (c *NonBlockingCoordinator) handleViewConf(ctx context.Context, local channel.Member, cm CoordinationMessage, merged []channel.Member) {
	c.mu.Lock()
	same := c.hasView && c.viewID == cm.ID
	c.mu.Unlock()
	if same {
		return
	}
	view := slices.DeleteFunc(slices.Clone(cm.View), func(m channel.Member) bool {
		return !slices.ContainsFunc(merged, m.Equal)
	})
	c.installView(viewOf(local, view), cm.ID)
	if c.suggestedID != nil && *c.suggestedID == cm.ID {
		c.suggested, c.suggestedID = nil, nil
	}
	if c.suggested != nil && len(merged) > 0 && CompareAbsolute(c.suggested[0], merged[0]) < 0 {
		c.suggested, c.suggestedID = nil, nil
	}
	c.mu.Lock()
	ms := c.memberList(local)
	c.mu.Unlock()
	if c.suggestedID == nil && len(ms) > 0 && (len(merged) == 0 || CompareAbsolute(merged[0], ms[0]) > 0) {
		c.startElection(ctx, false)
	}
}

// installView installs view, unless the goroutine's run is no longer the running one: a
// Stop that gave up waiting for it (an alive check that ignores its context) has
// forgotten the view, and a Start may have begun another run
// (TestNonBlockingCoordinatorInstallsNoViewAfterItsStop). OnViewChange is called only if
// the run is still the running one then too (callUpRunning): a Stop that began after the
// install, and returned, is followed by no call
// (TestNonBlockingCoordinatorNoViewChangeAfterItsStop).
func (c *NonBlockingCoordinator) installView(view []channel.Member, id [16]byte) {
	c.mu.Lock()
	if !c.runningLocked(c.own) {
		c.mu.Unlock()
		return
	}
	c.view, c.viewID, c.hasView = view, id, true
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.views.Add(1)
	co := view[0]
	c.log.Info("tribes coordinator: view installed", "coordinator", co.String(), "members", len(view))
	if c.cfg.OnViewChange != nil {
		c.callUpRunning(c.own, func() { c.cfg.OnViewChange(slices.Clone(view), id) })
	}
}

// runningLocked reports whether g is the running run. Caller holds c.mu.
func (c *NonBlockingCoordinator) runningLocked(g *runGroup) bool { return c.running && c.run == g }

// ownRunning reports whether the goroutine's run is the running one. Run goroutine only.
func (c *NonBlockingCoordinator) ownRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningLocked(c.own)
}

// callUpRunning runs f, a call up the stack made on a goroutine of run g, marked in g
// (runGroup.callUp), if g is still the running run, and reports whether it did. The check
// and the mark are one step under c.mu, as Stop marks the run stopped under it: a call
// marked first began before the Stop (which does not wait for it, as for any call under
// way), and once the Stop marked the run stopped no call begins.
func (c *NonBlockingCoordinator) callUpRunning(g *runGroup, f func()) bool {
	c.mu.Lock()
	if !c.runningLocked(g) {
		c.mu.Unlock()
		return false
	}
	g.up.Add(1)
	c.mu.Unlock()
	defer g.up.Add(-1)
	f()
	return true
}

// staleSelf reports whether m is an entry of local's address (host and port) under another
// unique id: the entry of the node that ran there before, which a peer may still list.
// Whatever runs at that address is local, so such an entry is stale: it is left out of the
// membership and views, and no token goes to it (it would come back to local, again and
// again: TestNonBlockingCoordinatorStaleEntryOfItself).
func staleSelf(local, m channel.Member) bool {
	return m.Port == local.Port && m.IP() == local.IP() && !m.Equal(local)
}

// keepStaleSelf returns merged with the stale entries of local that view names put back:
// the token passed on keeps them for the peers that list them (a peer's membership is
// not this node's to change), so that its view comes back to them as they know it and the
// election ends; this node leaves them out of what it installs or confirms.
func keepStaleSelf(local channel.Member, merged, view []channel.Member) []channel.Member {
	stale := slices.DeleteFunc(slices.Clone(view), func(m channel.Member) bool { return !staleSelf(local, m) })
	return viewOf(local, merged, stale)
}

// withoutStaleSelf returns ms without local's stale entries (staleSelf), in a new slice.
func withoutStaleSelf(local channel.Member, ms []channel.Member) []channel.Member {
	return slices.DeleteFunc(slices.Clone(ms), func(m channel.Member) bool { return staleSelf(local, m) })
}
