package replmap

import "context"

// keyLock is the send lock of one key (lockKey): a channel of one slot, and how many
// goroutines hold or wait for it.
type keyLock struct {
	slot chan struct{}
	refs int
}

// lockKey takes the send lock of the key under k, which a Put holds from its MSG_REMOVE
// to its entry's store and a Replicate while it checks that its entry is still the
// key's and sends, and returns the function that releases it, or ctx's error when ctx
// ended before the lock was free. A key is listed only while a goroutine holds or waits for its lock.
func (m *Map) lockKey(ctx context.Context, k string) (unlock func(), err error) {
	m.mu.Lock()
	l := m.keyLocks[k]
	if l == nil {
		if m.keyLocks == nil {
			m.keyLocks = make(map[string]*keyLock)
		}
		l = &keyLock{slot: make(chan struct{}, 1)}
		m.keyLocks[k] = l
	}
	l.refs++
	m.mu.Unlock()
	release := func() {
		m.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(m.keyLocks, k)
		}
		m.mu.Unlock()
	}
	unlock = func() {
		<-l.slot
		release()
	}
	select {
	case l.slot <- struct{}{}: // free: taken whatever ctx
		return unlock, nil
	default:
	}
	select {
	case l.slot <- struct{}{}:
		return unlock, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
