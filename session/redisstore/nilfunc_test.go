package redisstore

import (
	"errors"
	"testing"
)

// Update with a nil function is an error wrapping ErrInvalidConfig that changes nothing,
// as in session/delta; it used to panic with the session's update lock held. No Redis is
// needed: the session is not saved.
func TestUpdateNilFunction(t *testing.T) {
	s := fuzzStore(t).NewSession()
	if err := s.Set("count", 1); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Update(name, nil) panicked: %v", p)
			}
		}()
		if _, err := s.Update("count", nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Update(name, nil) = %v, want an error wrapping ErrInvalidConfig", err)
		}
	}()
	if v, err := s.Update("count", func(old any) (any, error) { return old.(int) + 1, nil }); err != nil || v != 2 {
		t.Errorf("Update after Update(name, nil) = %v, %v; want 2 (the attribute unchanged, the lock free)", v, err)
	}
}
