package mcast

import (
	"testing"
	"time"
)

// The defaults the package documentation, docs/membership.md and docs/operations.md give
// (Tomcat's McastService's), as literal values rather than the constants, so that a
// changed constant fails here until the documents follow: group 228.0.0.4 port 45564, a
// heartbeat every 500 ms, members dropped after 3 s of silence, recovery 10 times 5 s
// apart, and the TTL left to the system (0); and the limits docs/security.md gives for
// forged heartbeats: at most 1024 members, payloads of 4096 bytes, domains and commands of
// 256 and hosts of 64.
func TestDefaultsAsDocumented(t *testing.T) {
	s, err := Config{Bind: "127.0.0.1"}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Address", s.Address, "228.0.0.4"},
		{"Port", s.Port, 45564},
		{"Frequency", s.Frequency, 500 * time.Millisecond},
		{"DropTime", s.DropTime, 3 * time.Second},
		{"RecoveryCounter", s.RecoveryCounter, 10},
		{"RecoverySleepTime", s.RecoverySleepTime, 5 * time.Second},
		{"TTL", s.TTL, 0},
		{"DefaultLocalConfig TTL", DefaultLocalConfig().TTL, 1},
		{"MaxMembers", s.MaxMembers, 1024},
		{"MaxPayloadSize", s.MaxPayloadSize, 4096},
		{"MaxDomainSize", s.MaxDomainSize, 256},
		{"MaxCommandSize", s.MaxCommandSize, 256},
		{"MaxHostSize", s.MaxHostSize, 64},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
