package redisstore_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// TestNewMiddlewareNilStore: a nil store (an error of New not checked, a variable left
// unset) is refused with ErrInvalidConfig; NewMiddleware panicked on it.
func TestNewMiddlewareNilStore(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("NewMiddleware(nil) panicked: %v", p)
		}
	}()
	mw, err := redisstore.NewMiddleware(nil, redisstore.HTTPConfig{})
	if !errors.Is(err, redisstore.ErrInvalidConfig) || mw != nil {
		t.Fatalf("NewMiddleware(nil) = %v, %v; want nil, ErrInvalidConfig", mw, err)
	}
}
