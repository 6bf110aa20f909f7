package delta

import "testing"

// TestTransferredLoadDoesNotReviveAnExpiredSession: a transfer, repair or refresh finds
// (getOrAdd) a copy, which an expiry or invalidation then ends before the load: loading
// st over it made it valid again, a session no longer in the table that a request
// holding it could change and replicate anew.
func TestTransferredLoadDoesNotReviveAnExpiredSession(t *testing.T) {
	_, m := startLone(t, Config{})
	s := CreateReplicated(t, m)
	id := s.ID()
	if _, ok := s.beginExpire(); !ok {
		t.Fatal("beginExpire")
	}
	s.endExpire()
	s.loadTransferred(&SessionState{ID: id, Version: 3, MaxInactive: 60,
		Attributes: []NamedValue{{Name: "a", Value: []byte("v")}}})
	if err := s.Set("b", "v"); err == nil {
		t.Error("an expired session, loaded over by a transfer, takes a change")
	}
	s.mu.Lock()
	valid, n := s.valid, len(s.attrs)
	s.mu.Unlock()
	if valid || n != 0 {
		t.Errorf("an expired session, loaded over by a transfer: valid %v, %d attributes; want invalid, none", valid, n)
	}
}
