package delta_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// Config.SkipStateTransfer starts a manager without asking any member for its sessions:
// it is ready at once and holds none of the members' sessions until they replicate them,
// and no member serves it a transfer. (Its comment called it Tomcat's stateTransferTimeout
// 0, with which Tomcat still asks, and loads the sessions when they come; it only does not
// wait for them.)
func TestSkipStateTransferAsksNoMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d"})
		ids := fill(t, d, 3)
		start := time.Now()
		j := startNode(t, nw, delta.Config{JvmRoute: "j", SkipStateTransfer: true, MemberWait: 3 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("ready after %v, want at once", waited)
		}
		synctest.Wait()
		for _, id := range ids {
			if j.m.Find(id) != nil {
				t.Errorf("the node that skipped the transfer holds %s", id)
			}
		}
		if st, dst := j.m.Stats(), d.m.Stats(); st.TransferAttempts != 0 || dst.SessionsServed != 0 {
			t.Errorf("%d transfer attempts, the member served %d sessions: want none", st.TransferAttempts, dst.SessionsServed)
		}
	})
}
