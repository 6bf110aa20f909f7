package nio

import (
	"errors"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// Where EngineGnet cannot run (Windows: its event loops and workers read and write the
// sockets with Unix system calls), New refuses it with an error wrapping
// ErrEngineUnsupported and channel.ErrInvalidConfig, Engines leaves it out, and the
// default engine is still accepted. The test clears gnetSupported to take that path here;
// internal/crossbuild's test proves the package builds there.
func TestNewRefusesGnetWhereUnsupported(t *testing.T) {
	if !gnetSupported || !slices.Contains(Engines(), EngineGnet) {
		t.Fatalf("EngineGnet not supported on this Unix-like system: Engines() = %v", Engines())
	}
	if _, err := New(Config{Engine: EngineGnet}); err != nil {
		t.Fatalf("New(EngineGnet) where it is supported: %v", err)
	}
	defer func(v bool) { gnetSupported = v }(gnetSupported)
	gnetSupported = false
	_, err := New(Config{Engine: EngineGnet})
	if !errors.Is(err, ErrEngineUnsupported) || !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("New(EngineGnet) where it is not supported: %v, want ErrEngineUnsupported and channel.ErrInvalidConfig", err)
	}
	t.Logf("New(EngineGnet): %v", err)
	if got := Engines(); !slices.Equal(got, []Engine{EngineGoroutine}) {
		t.Fatalf("Engines() = %v, want only %q", got, EngineGoroutine)
	}
	for _, e := range []Engine{"", EngineGoroutine} {
		if _, err := New(Config{Engine: e}); err != nil {
			t.Fatalf("New(Engine %q): %v", e, err)
		}
	}
}
