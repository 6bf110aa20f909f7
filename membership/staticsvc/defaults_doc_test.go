package staticsvc

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// The defaults the package documentation, docs/membership.md and docs/operations.md give
// (Tomcat's StaticMembershipProvider's), as literal values rather than the constants, so
// that a changed constant fails here until the documents follow: members pinged every
// second and expired after 5 s of silence, connectTimeout 500 ms, rpcTimeout 3 s,
// asynchronous sends, and the channel name Catalina-Channel; and the limits
// docs/security.md gives for forged announcements: at most 1024 members, payloads of 4096
// bytes, and domains and commands of 256 (MaxNameSize, a constant).
func TestDefaultsAsDocumented(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"ExpirationTime", s.cfg.ExpirationTime, 5 * time.Second},
		{"PingInterval", s.cfg.PingInterval, time.Second},
		{"ConnectTimeout", s.cfg.ConnectTimeout, 500 * time.Millisecond},
		{"RPCTimeout", s.cfg.RPCTimeout, 3 * time.Second},
		{"SendOptions", s.cfg.SendOptions, channel.OptAsync},
		{"ChannelName", s.cfg.ChannelName, "Catalina-Channel"},
		{"MaxMembers", s.cfg.MaxMembers, 1024},
		{"MaxPayloadSize", s.cfg.MaxPayloadSize, 4096},
		{"MaxNameSize", MaxNameSize, 256},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
