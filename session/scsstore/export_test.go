package scsstore

import "time"

// SetClock makes st read the time from now (tests of expiry).
func (st *Store) SetClock(now func() time.Time) { st.now = now }
