package replmap

import "slices"

// SetState sets the state a map's ping replies report (tests only).
func SetState(m *Map, name string) {
	m.mu.Lock()
	m.state = state(slices.Index(stateNames[:], name))
	m.mu.Unlock()
}
