package replmap

import (
	"slices"

	"github.com/gotribes/tribes/channel"
)

// SetState sets the state a map's ping replies report (tests only).
func SetState(m *Map, name string) {
	m.mu.Lock()
	m.state = state(slices.Index(stateNames[:], name))
	m.mu.Unlock()
}

// Primary returns the primary member m records for key, and whether it records one
// (tests only).
func Primary(m *Map, key any) (channel.Member, bool) {
	k, err := keyOf(key)
	if err != nil {
		return channel.Member{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[k]; e != nil && e.primary != nil {
		return *e.primary, true
	}
	return channel.Member{}, false
}
