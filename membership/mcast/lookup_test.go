package mcast

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/wire"
)

// TestMemberLookupAllocatesNothing: the channel's member check (Channel.Member, once or
// twice per received message) is a map lookup in the member table that allocates nothing,
// for a member and for a stranger, with the table at MaxMembers (docs/security.md).
func TestMemberLookupAllocatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, func(c *Config) {
			c.Logger = slog.New(slog.DiscardHandler)
			c.DropTime = time.Hour // nobody expires during the test
		})
		evil := forger(t, nw)
		synctest.Wait()
		for i := range DefaultMaxMembers {
			m := invented(100+i, 16)
			if err := evil.WritePacket(wire.AppendMember(nil, &m)); err != nil {
				t.Fatal(err)
			}
			if i%256 == 255 {
				synctest.Wait()
			}
		}
		synctest.Wait()
		if n := len(a.s.Members()); n != DefaultMaxMembers {
			t.Fatalf("%d members, want %d", n, DefaultMaxMembers)
		}
		stranger := invented(100+DefaultMaxMembers, 16)
		for _, c := range []struct {
			name string
			key  wire.MemberKey
			want bool
		}{
			{"the first member", invented(100, 16).Key(), true},
			{"the last member", invented(100+DefaultMaxMembers-1, 16).Key(), true},
			{"a stranger", stranger.Key(), false},
		} {
			if _, ok := a.s.Member(c.key); ok != c.want {
				t.Fatalf("Member(%s) found %v, want %v", c.name, ok, c.want)
			}
			if allocs := testing.AllocsPerRun(100, func() { a.s.Member(c.key) }); allocs != 0 {
				t.Errorf("Member(%s): %v allocations", c.name, allocs)
			}
		}
	})
}
