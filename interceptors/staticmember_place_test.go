package interceptors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestStaticMembershipChecksItsPlace: when the channel starts, the static member
// interceptor logs a warning unless both a failure detector and a ping interceptor sit
// above it, as Tribes' StaticMembershipInterceptor does (docs/interceptors.md).
func TestStaticMembershipChecksItsPlace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		above func() []channel.Interceptor
		warn  string
	}{
		{"alone", func() []channel.Interceptor { return nil }, "tcpfailure=false ping=false"},
		{"detector only", func() []channel.Interceptor {
			return []channel.Interceptor{newTestDetector(newAliveSet())}
		}, "tcpfailure=true ping=false"},
		{"ping and detector", func() []channel.Interceptor {
			return []channel.Interceptor{must(NewTCPPing(TCPPingConfig{})), newTestDetector(newAliveSet())}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			sm := must(NewStaticMembership(StaticMembershipConfig{Logger: slog.New(slog.NewTextHandler(&buf, nil))}))
			a := mbNew(t, channeltest.NewNetwork(), mbOpt{id: 1, membership: noMembership}, append(tc.above(), sm)...)
			mbStart(t, a)
			got := buf.String()
			switch {
			case tc.warn == "" && strings.Contains(got, "level=WARN"):
				t.Fatalf("warned: %s", got)
			case tc.warn != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, tc.warn)):
				t.Fatalf("logged %q, want a warning with %q", got, tc.warn)
			}
		})
	}
}
