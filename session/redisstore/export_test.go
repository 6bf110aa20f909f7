package redisstore

import "github.com/gotribes/tribes/session/delta"

// EncodeForTest returns the stored form of state, for tests that write a stored value
// themselves.
func (st *Store) EncodeForTest(state *delta.SessionState) ([]byte, error) { return st.encode(state) }
