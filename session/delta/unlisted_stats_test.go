package delta_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A session message held for a sender not listed yet, and handled once it is listed, is
// neither counted in ClusterStats.RefusedNonMember nor logged as ignored: it is held
// (UnlistedHeld), then answered (UnlistedAnswered). One the hold does not keep (over
// 64 KiB) is still refused, counted and logged. Before, the held one was logged
// "ignoring session messages from a sender that is not a member" and counted as refused.
func TestHeldMessageNotCountedAsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var logs bytes.Buffer
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonorWith(t, nw, 0, delta.ClusterConfig{
			Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		joiner := fakeMember(6100, 100)
		_ = view.inject(joiner, getAll(t))
		if st := cl.Stats(); st.RefusedNonMember != 0 || st.UnlistedHeld != 1 {
			t.Fatalf("refused %d, held %d; want 0, 1", st.RefusedNonMember, st.UnlistedHeld)
		}
		view.list(joiner)
		synctest.Wait()
		if st := cl.Stats(); st.RefusedNonMember != 0 || st.UnlistedAnswered != 1 {
			t.Fatalf("refused %d, answered %d; want 0, 1", st.RefusedNonMember, st.UnlistedAnswered)
		}
		mu.Lock()
		ignored := strings.Contains(logs.String(), "ignoring session messages")
		mu.Unlock()
		if ignored {
			t.Fatalf("a held message was logged as ignored:\n%s", logs.String())
		}

		stranger := fakeMember(6200, 101)
		_ = view.inject(stranger, append(getAll(t), make([]byte, 65<<10)...)) // not kept
		if st := cl.Stats(); st.RefusedNonMember != 1 || st.UnlistedHeld != 0 || st.UnlistedDropped != 1 {
			t.Fatalf("refused %d, held %d, dropped %d; want 1, 0, 1", st.RefusedNonMember, st.UnlistedHeld, st.UnlistedDropped)
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logs.String(), "ignoring session messages") {
			t.Fatalf("the message not kept was not logged as ignored:\n%s", logs.String())
		}
	})
}
