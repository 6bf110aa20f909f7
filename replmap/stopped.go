package replmap

import (
	"fmt"
	"log/slog"

	"github.com/gotribes/tribes/channel"
)

// A member's MSG_STOP is the last plain message its map sends; a change of its still
// under way as it stopped may follow it (its Replicate's diff, the MSG_PROXY of a
// publish). Applied, such a message names the stopped node as its entry's primary again
// (a backup that took the entry over becomes a backup of a node gone), so it is refused
// until that member's MSG_INIT or MSG_START (a new map there) or its departure from the
// channel (TestMessageAfterStopRefused, TestRefusalAfterStopEndsWhenChannelDropsMember). A MSG_REMOVE is still applied: it only drops
// an entry. Java applies them all.

// setStopped records whether mb's last map message was its MSG_STOP.
func (m *Map) setStopped(mb channel.Member, stopped bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateDestroyed {
		return
	}
	if stopped {
		m.stoppedMembers[mb.Key()] = mb
	} else {
		delete(m.stoppedMembers, mb.Key())
	}
}

// refuseStopped returns an error wrapping ErrMemberStopped, counted and logged
// rate-limited, when mm would change an entry and src sent its MSG_STOP last.
func (m *Map) refuseStopped(mm *message, src channel.Member) error {
	switch mm.Type {
	case msgBackup, msgCopy, msgProxy, msgAccess, msgNotifyMember:
	default:
		return nil
	}
	m.mu.Lock()
	_, stopped := m.stoppedMembers[src.Key()]
	if stopped {
		m.refusedStopped++
	}
	m.mu.Unlock()
	if !stopped {
		return nil
	}
	m.rlog.Log(slog.LevelWarn, src.String(), "after-stop", "replmap: ignoring a map message from a member whose map stopped",
		"map", m.cfg.Name, "from", src.String(), "type", mm.Type.String())
	return fmt.Errorf("%w: replmap %q: %s from %s", ErrMemberStopped, m.cfg.Name, mm.Type, src.String())
}

// channelMemberLeft handles a member the channel no longer lists: a map member that
// disappeared, whose MSG_STOP, if any, is forgotten; for a member listed by address
// alone, the nodes at its address (addrmember.go).
func (m *Map) channelMemberLeft(rec channel.Member) {
	m.mu.Lock()
	for k, mb := range m.stoppedMembers {
		if standsFor(rec, mb) {
			delete(m.stoppedMembers, k)
		}
	}
	m.mu.Unlock()
	for _, mb := range m.mapMembersOf(rec) {
		m.memberDisappeared(mb)
	}
}
