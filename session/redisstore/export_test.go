package redisstore

import "github.com/gotribes/tribes/session/delta"

// EncodeForTest returns the stored form of state, for tests that write a stored value
// themselves.
func (st *Store) EncodeForTest(state *delta.SessionState) ([]byte, error) {
	return st.encode(state, newID())
}

// SavesKeyForTest returns the key of the record of session id's recent saves.
func (st *Store) SavesKeyForTest(id string) string { return st.savesKey(id) }

// MaxSaveRecords is how many of a session's saves its record keeps.
const MaxSaveRecords = maxSaveRecords

// MovedKeyForTest returns the key of the forward an id change from id leaves.
func (st *Store) MovedKeyForTest(id string) string { return st.movedKey(id) }
