package delta_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestNewMiddlewareNilManager: a nil manager (an error of NewManager not checked, a
// variable left unset) is refused with ErrInvalidConfig; NewMiddleware panicked on it.
func TestNewMiddlewareNilManager(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("NewMiddleware(nil) panicked: %v", p)
		}
	}()
	mw, err := delta.NewMiddleware(nil, delta.HTTPConfig{})
	if !errors.Is(err, delta.ErrInvalidConfig) || mw != nil {
		t.Fatalf("NewMiddleware(nil) = %v, %v; want nil, ErrInvalidConfig", mw, err)
	}
}
