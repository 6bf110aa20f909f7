package backup_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// BenchmarkCodecEncodeFullCopy: a full copy (Codec.Encode) of a session of 10
// attributes, with and without a principal.
func BenchmarkCodecEncodeFullCopy(b *testing.B) {
	for _, principal := range []bool{false, true} {
		b.Run("principal="+strconv.FormatBool(principal), func(b *testing.B) {
			s := backup.NewSession("S1", time.Hour, backup.Limits{})
			for i := range 10 {
				if err := s.Set("attr"+strconv.Itoa(i), "value "+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
			}
			if principal {
				if err := s.SetPrincipal(&delta.Principal{Name: "alice", Roles: []string{"user", "admin"}}); err != nil {
					b.Fatal(err)
				}
			}
			c := backup.Codec{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
