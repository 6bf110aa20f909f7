package replmap

import (
	"context"
	"time"

	"github.com/gotribes/tribes/channel"
)

// startPassInterval is the least time between two republish passes for MSG_STARTs of
// the same member (memberStarted): the MSG_STARTs that come meanwhile are gathered into
// the next pass, run once the interval is over.
const startPassInterval = time.Second

// startPasses is what memberStarted has still to do, by member, m.mu held: the entries
// to publish anew and to take over after the members' MSG_STARTs.
type startPasses struct {
	byMember map[channel.MemberKey]*startPass
	// hurry, closed by Stop, makes the passes waiting for their interval run at once.
	hurry   chan struct{}
	hurried bool
}

// startPass is a member's pending pass: its keys, gathered from the MSG_STARTs that came
// since the last pass began, the time that pass ended, and done, closed when the
// goroutine running the passes ends.
type startPass struct {
	stale, orphaned map[string]struct{}
	last            time.Time
	done            chan struct{}
}

// memberStarted handles a member's MSG_START (its map is ready for the map's messages):
// a new map member is added (mapMemberAdded), and in a lazy map the entries this node
// shares with mb's earlier map are handed out anew. A map that sends MSG_START holds no
// value: its state transfer gives it proxies only, replacing a backup it took before
// its Start, and a map is the primary of nothing before its Start returns. So mb is a
// new map on a node whose earlier one this node still took for a map member (its
// MSG_STOP lost: a node killed and restarted with its member identity, which the
// membership never dropped), or a map that became a backup between its New and its
// Start:
//   - the primaries that name mb as their backup already are published anew, in full:
//     without the value, mb could apply no diff, and the entry would be lost with this
//     node (TestRestartedBackupGetsEntriesAgain). They are read before mb is added: the
//     entries without a backup that a new member gets then are not sent twice
//     (TestJoinerGetsAnEntryWithoutBackupOnce). Until then, their next Replicate sends
//     the value in full, not a diff mb could not apply;
//   - the entries this node backs up for mb's earlier map are taken over as if mb had
//     left (memberGone: published with this node as primary, MadePrimary called): mb's
//     new map names itself their primary without their value, this node holds the only
//     one, and the value was lost once this node left
//     (TestRestartedPrimaryBackupTakesOver).
//
// Both are done by a goroutine of mb's, after the MSG_START is answered: the joiner's
// Start does not wait for them. A member's MSG_STARTs are gathered: its pass runs at
// most once every startPassInterval, with the entries of every MSG_START since the last
// one began, so that a member repeating MSG_START does not have every entry naming it
// sent again each time (TestRepeatedStartRepublishesBounded). Stop runs the passes
// still waiting at once and waits for them, within its context; a pass sends nothing
// once it sees the map stopped, and a later Stop waits for one that outlived a Stop
// whose context ended (TestLaterStopWaitsForTheStartPass).
//
// A replicated map's joiner takes the values with the state. A MSG_START naming a node
// the channel does not list changes nothing: a stranger makes this node neither
// republish nor take over (TestStrangerStartTakesNothingOver).
func (m *Map) memberStarted(mb channel.Member) {
	cm, ok := m.channelMember(mb)
	if !ok { // a joiner not listed yet is answered, and added once listed (leftOver)
		m.log.Debug("replmap: MSG_START from a node that is not a channel member", "map", m.cfg.Name, "member", mb.String())
		return
	}
	mb = cm
	var stale, orphaned []string
	if !m.cfg.Replicated {
		local := m.cfg.Channel.LocalMember()
		m.mu.Lock()
		for k, e := range m.entries {
			switch {
			case e.role == rolePrimary && indexOf(e.nodes, mb) >= 0:
				stale = append(stale, k)
				e.failed++ // the next Replicate sends the value in full
			case e.role == roleBackup && same(e.primary, mb) && only(e.nodes, local):
				orphaned = append(orphaned, k)
			}
		}
		m.mu.Unlock()
	}
	m.mapMemberAdded(mb)
	if len(stale) > 0 || len(orphaned) > 0 {
		m.startPass(mb, stale, orphaned)
	}
}

// startPass adds stale and orphaned to mb's pending pass and starts the goroutine that
// runs mb's passes if none runs. Once Stop has begun (m.starts.hurried) it starts none:
// Stop has waited for the passes already, and the map stops, its MSG_STOP telling mb
// (TestStartDuringStopStartsNoPass).
func (m *Map) startPass(mb channel.Member, stale, orphaned []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateDestroyed || m.starts.hurried {
		return
	}
	if m.starts.byMember == nil {
		m.starts.byMember = make(map[channel.MemberKey]*startPass)
		m.starts.hurry = make(chan struct{})
	}
	p := m.starts.byMember[mb.Key()]
	if p == nil {
		p = &startPass{}
		m.starts.byMember[mb.Key()] = p
	}
	p.stale = addKeys(p.stale, stale)
	p.orphaned = addKeys(p.orphaned, orphaned)
	if p.done == nil {
		p.done = make(chan struct{})
		m.beginPassLocked()
		go m.runStartPasses(m.life, mb, p)
	}
}

func addKeys(set map[string]struct{}, keys []string) map[string]struct{} {
	if len(keys) > 0 && set == nil {
		set = make(map[string]struct{}, len(keys))
	}
	for _, k := range keys {
		set[k] = struct{}{}
	}
	return set
}

// runStartPasses runs mb's passes while MSG_STARTs add to them, each startPassInterval
// after the end of the one before at the earliest (at once once Stop began), sending
// with ctx, the map's life: once the map is stopped it drops what is left to do.
func (m *Map) runStartPasses(ctx context.Context, mb channel.Member, p *startPass) {
	defer m.endPass()
	for {
		m.mu.Lock()
		if m.state == stateDestroyed {
			p.stale, p.orphaned = nil, nil
		}
		if len(p.stale) == 0 && len(p.orphaned) == 0 {
			close(p.done)
			p.done = nil
			if p.last.IsZero() || time.Since(p.last) >= startPassInterval || indexOf(m.members, mb) < 0 {
				delete(m.starts.byMember, mb.Key())
			}
			m.mu.Unlock()
			return
		}
		wait, hurry := startPassInterval-time.Since(p.last), m.starts.hurry
		if p.last.IsZero() || m.starts.hurried {
			wait = 0
		}
		m.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-hurry:
				t.Stop()
			case <-ctx.Done():
				t.Stop()
			}
		}
		m.mu.Lock()
		stale, orphaned := keysOf(p.stale), keysOf(p.orphaned)
		p.stale, p.orphaned = nil, nil
		m.mu.Unlock()
		m.republish(ctx, stale, nil)
		if len(orphaned) > 0 {
			m.log.Info("replmap: map member restarted; taking over the entries backed up for it", "map", m.cfg.Name,
				"member", mb.String(), "entries", len(orphaned))
			m.republish(ctx, orphaned, nil)
			m.madePrimary(orphaned)
		}
		m.mu.Lock()
		p.last = time.Now()
		m.mu.Unlock()
	}
}

func keysOf(set map[string]struct{}) []string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	return keys
}

// finishStarts makes the members' passes run at once and waits for them, or for ctx to
// end (Stop).
func (m *Map) finishStarts(ctx context.Context) {
	m.mu.Lock()
	if m.starts.hurry != nil && !m.starts.hurried {
		close(m.starts.hurry)
	}
	m.starts.hurried = true
	var running []chan struct{}
	for _, p := range m.starts.byMember {
		if p.done != nil {
			running = append(running, p.done)
		}
	}
	m.mu.Unlock()
	for _, done := range running {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

// forgetStartPassLocked drops the pass bookkeeping of mb, a member that left, m.mu held;
// a pass still running drops it as it ends (TestStartPassForgottenWhenMemberLeaves).
func (m *Map) forgetStartPassLocked(mb channel.Member) {
	if p := m.starts.byMember[mb.Key()]; p != nil && p.done == nil {
		delete(m.starts.byMember, mb.Key())
	}
}
