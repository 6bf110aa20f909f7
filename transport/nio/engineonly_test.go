package nio

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// EngineGoroutine ignores the settings only EngineGnet uses (EventLoops,
// DeliverOnEventLoop, MaxConnQueueBytes, MaxConnOutboundBytes). Set to something other
// than their defaults, they were ignored without a word, so a configuration tuned for gnet
// silently did nothing on the default engine; New now warns once, naming them. Defaults
// (DefaultConfig spells them out) and the gnet engine give no warning.
func TestNewWarnsOfSettingsTheEngineIgnores(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want []string // fields named in the warning; none: no warning
	}{
		{"defaults", func(*Config) {}, nil},
		{"goroutine", func(c *Config) {
			c.EventLoops, c.DeliverOnEventLoop = 3, true
			c.MaxConnQueueBytes, c.MaxConnOutboundBytes = 1<<20, 1<<20
		}, []string{"EventLoops", "DeliverOnEventLoop", "MaxConnQueueBytes", "MaxConnOutboundBytes"}},
		{"goroutine-event-loops", func(c *Config) { c.EventLoops = 3 }, []string{"EventLoops"}},
		{"gnet", func(c *Config) {
			c.Engine, c.EventLoops, c.DeliverOnEventLoop = EngineGnet, 3, true
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			cfg := DefaultConfig()
			cfg.Port = 0
			cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
			tc.set(&cfg)
			if _, err := New(cfg); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if tc.want == nil {
				if log.Len() != 0 {
					t.Fatalf("unexpected log: %s", log.String())
				}
				return
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "engine=goroutine") {
				t.Fatalf("log %q, want one warning about the goroutine engine", log.String())
			}
			for _, f := range []string{"EventLoops", "DeliverOnEventLoop", "MaxConnQueueBytes", "MaxConnOutboundBytes"} {
				wanted := strings.Contains(strings.Join(tc.want, " "), f)
				if got := strings.Contains(lines[0], f); got != wanted {
					t.Errorf("warning %q names %s: %v, want %v", lines[0], f, got, wanted)
				}
			}
		})
	}
}
