package replmap

import "context"

// keyLock is the send lock of one key (lockKey): a channel of one slot, and how many
// goroutines hold or wait for it.
type keyLock struct {
	slot chan struct{}
	refs int
}

// maxSpareKeyLocks bounds the key locks, and the keyReplicates, that the map keeps for
// reuse once no goroutine uses them, so that an uncontended Put allocates neither
// (TestUncontendedPutBookkeepingAllocatesNothing).
const maxSpareKeyLocks = 16

// lockKey takes the send lock of the key under k, which a Put holds from its MSG_REMOVE
// to its entry's store and a Replicate while it checks that its entry is still the
// key's and sends, and returns it, for unlockKey, or ctx's error when ctx ended before
// the lock was free. A key is listed only while a goroutine holds or waits for its lock.
func (m *Map) lockKey(ctx context.Context, k string) (*keyLock, error) {
	m.mu.Lock()
	l := m.keyLocks[k]
	if l == nil {
		if m.keyLocks == nil {
			m.keyLocks = make(map[string]*keyLock)
		}
		if n := len(m.spareKeyLocks); n > 0 {
			l = m.spareKeyLocks[n-1]
			m.spareKeyLocks[n-1] = nil
			m.spareKeyLocks = m.spareKeyLocks[:n-1]
		} else {
			l = &keyLock{slot: make(chan struct{}, 1)}
		}
		m.keyLocks[k] = l
	}
	l.refs++
	m.mu.Unlock()
	select {
	case l.slot <- struct{}{}: // free: taken whatever ctx
		return l, nil
	default:
	}
	select {
	case l.slot <- struct{}{}:
		return l, nil
	case <-ctx.Done():
		m.releaseKeyLock(k, l)
		return nil, ctx.Err()
	}
}

// unlockKey releases l, the send lock of the key under k that lockKey took (nil: none).
func (m *Map) unlockKey(k string, l *keyLock) {
	if l == nil {
		return
	}
	<-l.slot
	m.releaseKeyLock(k, l)
}

// releaseKeyLock drops a holder or waiter of l, the lock of the key under k, and unlists
// the key once none is left: l's slot is empty then, and l is kept for reuse.
func (m *Map) releaseKeyLock(k string, l *keyLock) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l.refs--; l.refs > 0 {
		return
	}
	delete(m.keyLocks, k)
	if len(m.spareKeyLocks) < maxSpareKeyLocks {
		m.spareKeyLocks = append(m.spareKeyLocks, l)
	}
}
