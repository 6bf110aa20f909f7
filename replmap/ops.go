package replmap

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

func (m *Map) started() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.startCalled || m.state == stateDestroyed {
		return ErrNotStarted
	}
	return nil
}

// Len returns the number of entries this node holds a value of (primaries and backups;
// Java's size()).
func (m *Map) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.entries {
		if e.role != roleProxy && e.value != nil {
			n++
		}
	}
	return n
}

// Peek returns the value the local node holds for key, without asking another node or
// changing the entry's primary: ok is false when it holds none (no entry, or a proxy),
// primary whether the local node is the entry's primary.
func (m *Map) Peek(key any) (value any, primary, ok bool) {
	k, err := keyOf(key)
	if err != nil {
		return nil, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	if e == nil || e.role == roleProxy || e.value == nil {
		return nil, false, false
	}
	return e.value, e.role == rolePrimary, true
}

// Keys returns the keys of every entry the map knows, proxies included (Java's
// keySetFull): a key is in the map when any node put it.
func (m *Map) Keys() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]any, 0, len(m.entries))
	for _, e := range m.entries {
		keys = append(keys, e.key)
	}
	return keys
}

// publish sends key and value to the next backup in turn and a proxy to the other map
// members (LazyReplicatedMap.publishEntryInfo), or a copy to every map member for a
// replicated map. A backup that cannot be reached is skipped for the next one; the
// backup nodes chosen are returned (empty when there is none). The messages carry stamp
// and clock, the value's write's, unordered for a Put that sent no MSG_REMOVE (stamp.go).
func (m *Map) publish(ctx context.Context, key, value any, stamp, clock uint64, unordered bool) ([]channel.Member, error) {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return nil, err
	}
	vb, err := m.marshalValue(value)
	if err != nil {
		return nil, err
	}
	if m.cfg.Replicated {
		return m.publishCopies(ctx, kb, vb, stamp, clock, unordered)
	}
	m.mu.Lock()
	members := append([]channel.Member(nil), m.members...)
	first := m.next
	if first >= len(members) {
		first = 0
	}
	m.next = first + 1
	m.mu.Unlock()
	local := m.local()
	var errs []error
	for i := range members {
		backup := []channel.Member{members[(first+i)%len(members)]}
		err := m.send(ctx, backup, &message{Type: msgBackup, Key: kb, Value: vb, Primary: local, Nodes: backup, Stamp: stamp, Clock: clock,
			Unordered: unordered})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if proxies := exclude(m.Members(), backup); len(proxies) > 0 {
			if err := m.send(ctx, proxies, &message{Type: msgProxy, Key: kb, Primary: local, Nodes: backup, Stamp: stamp, Clock: clock,
				Unordered: unordered}); err != nil {
				m.log.Warn("replmap: proxy", "map", m.cfg.Name, "err", err)
			}
		}
		return backup, nil
	}
	if len(errs) > 0 {
		return []channel.Member{}, fmt.Errorf("%w: key %v: %w", ErrNoBackup, key, errs[0])
	}
	return []channel.Member{}, nil
}
