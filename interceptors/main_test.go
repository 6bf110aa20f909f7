package interceptors

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain is the package's only TestMain (one per test binary): every test file of
// package interceptors and interceptors_test runs under goleak.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
