package replmap

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
)

// The map republishes entries in passes besides the calls of its API: when a map member
// leaves (memberGone), the entries it backed up get a new backup and those this node
// backed up for it are taken over; when a member joins (mapMemberAdded), the entries
// without a backup get it as their backup. A pass sends with the map's life context, which
// Stop ends once it marks the map stopped, and looks at the map's state before each
// entry: no new MSG_BACKUP goes once it sees the stop. Stop first waits for the passes
// to end (within its context), so that their entries have their new backups before its
// MSG_STOP; a later Stop waits for a pass still running too.

// passKey marks the context of the MadePrimary calls of the passes (Map.passCtx): a
// Stop called with it returns ErrStopping at once.
type passKey struct{}

// fromOwnPass reports whether ctx is, or derives from, the context of m's passes'
// MadePrimary calls.
func (m *Map) fromOwnPass(ctx context.Context) bool {
	p, _ := ctx.Value(passKey{}).(*Map)
	return p == m
}

// passTracker counts the passes running, m.mu held; idle is closed when the count
// falls to zero.
type passTracker struct {
	n    int
	idle chan struct{}
}

// gonePass is a departed member's pending pass (memberGone): the keys to publish anew
// and, of them, those this node took over, gathered from the departures of the member
// while its pass runs.
type gonePass struct {
	relocate, promoted map[string]struct{}
}

// beginPassLocked counts a pass that starts, m.mu held.
func (m *Map) beginPassLocked() {
	if m.passes.n == 0 {
		m.passes.idle = make(chan struct{})
	}
	m.passes.n++
}

// endPass counts a pass that ended.
func (m *Map) endPass() {
	m.mu.Lock()
	m.passes.n--
	if m.passes.n == 0 {
		close(m.passes.idle)
	}
	m.mu.Unlock()
}

// waitPasses waits until no pass runs, or for ctx to end: then the error wraps ctx's
// error if a pass still runs.
func (m *Map) waitPasses(ctx context.Context) error {
	for {
		m.mu.Lock()
		n, idle := m.passes.n, m.passes.idle
		m.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
			continue
		case <-ctx.Done():
		}
		select {
		case <-idle:
			continue
		default:
			return fmt.Errorf("replmap %q: stop: a republish pass still runs: %w", m.cfg.Name, ctx.Err())
		}
	}
}

// gonePass publishes anew the entries under relocate (of them, promoted were taken
// over: Config.MadePrimary is called for them) after mb left. One pass runs at a time
// for a member: the keys of a departure of mb while its pass runs are added to it, and
// this call returns; an entry the pass published since is not published again.
func (m *Map) gonePass(mb channel.Member, relocate, promoted []string) {
	if len(relocate) == 0 {
		return
	}
	m.mu.Lock()
	if m.state == stateDestroyed {
		m.mu.Unlock()
		return
	}
	if p := m.gone[mb.Key()]; p != nil {
		p.relocate = addKeys(p.relocate, relocate)
		p.promoted = addKeys(p.promoted, promoted)
		m.mu.Unlock()
		return
	}
	if m.gone == nil {
		m.gone = make(map[channel.MemberKey]*gonePass)
	}
	p := &gonePass{relocate: addKeys(nil, relocate), promoted: addKeys(nil, promoted)}
	m.gone[mb.Key()] = p
	m.beginPassLocked()
	ctx := m.life
	m.mu.Unlock()
	defer m.endPass()
	for first := true; ; first = false {
		m.mu.Lock()
		if !first {
			// A later departure named entries this pass has published since: they name
			// mb no longer.
			for k := range p.relocate {
				if e := m.entries[k]; e == nil || e.role == rolePrimary && indexOf(e.nodes, mb) < 0 {
					delete(p.relocate, k)
					delete(p.promoted, k)
				}
			}
		}
		if len(p.relocate) == 0 || m.state == stateDestroyed {
			delete(m.gone, mb.Key())
			m.mu.Unlock()
			return
		}
		relocate, promoted := keysOf(p.relocate), keysOf(p.promoted)
		p.relocate, p.promoted = nil, nil
		m.mu.Unlock()
		m.republish(ctx, relocate, &mb)
		m.madePrimary(promoted)
	}
}
