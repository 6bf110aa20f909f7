package interceptors

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/internal/testutil"
)

// TestMain is the package's only TestMain (one per test binary): every test file of
// package interceptors and interceptors_test runs under goleak. Tests on real nodes
// (package node) load gnet, whose worker pool lives as long as the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}
