package backup

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// The map docs/maps.md says MapConfig gives (BackupManager's: "<manager name>-map",
// rpcTimeout 15 s, accessTimeout 5 s, mapSendOptions 6) and the package's documented
// defaults, as literal values rather than the constants, so that a changed constant fails
// here until the documents follow.
func TestDefaultsAsDocumented(t *testing.T) {
	mc := MapConfig(nil, "localhost#/app", Limits{})
	l := Limits{}.withDefaults()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"MapConfig Name", mc.Name, "localhost#/app-map"},
		{"MapConfig RPCTimeout", mc.RPCTimeout, 15 * time.Second},
		{"MapConfig AccessTimeout", mc.AccessTimeout, 5 * time.Second},
		{"MapConfig SendOptions", mc.SendOptions, channel.SendOptions(6)},
		{"MaxInactive", DefaultMaxInactive, 30 * time.Minute},
		{"ExpireInterval", DefaultExpireInterval, 60 * time.Second},
		{"Limits.MaxSessionBytes", l.MaxSessionBytes, int64(16 << 20)},
		{"Limits.Java.MaxExpansion", delta.DefaultMaxExpansion, 16},
		// The routes of the map's session ids are read at most every 5 s.
		{"routeScan", routeScan, 5 * time.Second},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
