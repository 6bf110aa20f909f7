package delta_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// Update with a nil function is an error wrapping ErrInvalidConfig that changes nothing,
// and Range with a nil function does nothing. Both used to panic (a nil function called
// with the session's update lock held, and for every session).
func TestNilFunctionsDoNotPanic(t *testing.T) {
	n := startReady(t, channeltest.NewNetwork(), delta.Config{})
	s := create(t, n, "count", 1)
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Update(name, nil) panicked: %v", p)
			}
		}()
		if _, err := s.Update("count", nil); !errors.Is(err, delta.ErrInvalidConfig) {
			t.Errorf("Update(name, nil) = %v, want an error wrapping ErrInvalidConfig", err)
		}
	}()
	if v, _ := delta.Attr[int](s, "count"); v != 1 || s.Dirty() {
		t.Errorf("after Update(name, nil): count %d, dirty %v; want 1, false", v, s.Dirty())
	}
	// The session's update lock was not left held: a later Update runs.
	if v, err := s.Update("count", func(old any) (any, error) { return old.(int) + 1, nil }); err != nil || v != 2 {
		t.Errorf("Update after Update(name, nil) = %v, %v; want 2", v, err)
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Range(nil) panicked: %v", p)
			}
		}()
		n.m.Range(nil)
	}()
}
