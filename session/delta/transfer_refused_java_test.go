package delta_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestJavaDonorLeavesOutTheSessionPastItsLimits: JavaCodec wrote a state transfer
// chunk's values read with jserial's defaults whatever its Limits said, so a session
// holding a value past them went into the chunk, and a joiner configured alike refused
// the whole chunk (every other session of it lost). The donor now reads them with its
// Limits and leaves out that session alone, counted in Stats.TransferSessionsRefused.
func TestJavaDonorLeavesOutTheSessionPastItsLimits(t *testing.T) {
	ctx := context.Background()
	codec := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}
	// The values' own codec reads longer arrays than the messages' (its Limits set): a
	// session may hold a value the cluster codec refuses.
	cfg := delta.Config{Codec: delta.JavaValueCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 1000}}}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	acfg := cfg
	acfg.JvmRoute = "a"
	a := readyManager(t, ach, codec, acfg)
	const n = 10
	var big string
	ids := map[string]bool{}
	for i := range n {
		s, err := a.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var v any = "small"
		if i == n/2 {
			many := make([]any, 100) // past MaxArrayLen 50
			for j := range many {
				many[j] = fmt.Sprint("s", j)
			}
			v = many
			big = s.ID()
		} else {
			ids[s.ID()] = true
		}
		if err := s.Set("k", v); err != nil {
			t.Fatal(err)
		}
		_ = a.Replicate(ctx, s) // refused for the big value: ErrMessageLimit
	}
	_, bch := newChannel(t, nw)
	bcfg := cfg
	bcfg.JvmRoute = "b"
	b := readyManager(t, bch, codec, bcfg)
	if st := b.Stats(); st.TransferAttempts != 1 || st.SessionsTransferred != n-1 {
		t.Errorf("joiner: %d transfer attempts, %d sessions transferred; want 1 and %d", st.TransferAttempts,
			st.SessionsTransferred, n-1)
	}
	if got := a.Stats().TransferSessionsRefused; got != 1 {
		t.Errorf("donor: TransferSessionsRefused %d, want 1", got)
	}
	for id := range ids {
		if b.Find(id) == nil {
			t.Errorf("joiner lacks session %s", id)
		}
	}
	if b.Find(big) != nil {
		t.Errorf("joiner holds the session %s whose value is past the Limits", big)
	}
}
