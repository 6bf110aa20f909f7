package delta_test

import (
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestErrStoppingMessage: ErrStopping's message said "called from a listener of the
// manager's Stop" while Cluster.Close returns it too (from a listener of a held
// message's drain or of a manager's goroutine, while another Close runs), and Stop from
// a listener of the sweep or of the state transfer's replay: it now names both.
func TestErrStoppingMessage(t *testing.T) {
	msg := delta.ErrStopping.Error()
	for _, want := range []string{"Stop", "Close"} {
		if !strings.Contains(msg, want) {
			t.Errorf("ErrStopping's message %q does not name %s", msg, want)
		}
	}
	if strings.Contains(msg, "manager's Stop") {
		t.Errorf("ErrStopping's message %q names the manager's Stop only", msg)
	}
}
