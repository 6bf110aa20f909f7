package replmap

import (
	"context"
	"slices"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
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

// ReceiveBackup has m process a MSG_BACKUP of key and value from a peer (tests only).
func ReceiveBackup(m *Map, from channel.Member, key, value any) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	vb, err := jserial.Marshal(value)
	if err != nil {
		return err
	}
	return m.received(context.Background(), &message{MapID: m.id, Type: msgBackup, Key: kb, Value: vb,
		Primary: &from, Nodes: []channel.Member{m.cfg.Channel.LocalMember()}}, from)
}
