package redisstore_test

import (
	"context"
	"math"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// TestLoadWithUnboundedMaxSessionSize: a MaxSessionSize near math.MaxInt (a limit turned
// off) is a valid Config, and a session saved under it loads back. Load's GETRANGE end,
// the 8-byte version plus MaxSessionSize, overflowed to a negative offset: Redis then
// returned the value's first byte, and every Load failed with ErrCorrupt.
func TestLoadWithUnboundedMaxSessionSize(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	for _, max := range []int{math.MaxInt, math.MaxInt - 7, math.MaxInt - 8} {
		st := newStore(t, r, redisstore.Config{MaxSessionSize: max})
		s := st.NewSession()
		if err := s.Set("user", "ada"); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatalf("MaxSessionSize %d: Save: %v", max, err)
		}
		back, err := st.Load(ctx, s.ID())
		if err != nil {
			t.Fatalf("MaxSessionSize %d: Load of a saved session: %v", max, err)
		}
		if v, ok := back.Get("user"); !ok || v != "ada" {
			t.Fatalf("MaxSessionSize %d: loaded user = %v, %v", max, v, ok)
		}
	}
}
