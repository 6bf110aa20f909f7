package interceptors

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

type probe struct {
	channel.InterceptorBase
	n int
	d time.Duration
}

func init() {
	Register("test-probe", func(p *Props) (channel.Interceptor, error) {
		return &probe{n: p.Int("n", 7), d: p.Duration("wait", time.Second)}, nil
	})
}

func TestBuild(t *testing.T) {
	ics, err := Build("test-probe, test-probe(n=3;wait=250)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ics) != 2 || ics[0].(*probe).n != 7 || ics[1].(*probe).n != 3 || ics[1].(*probe).d != 250*time.Millisecond {
		t.Fatalf("built %+v", ics)
	}
	for _, bad := range []string{"nope", "test-probe(n=x)", "test-probe(bogus=1)", "test-probe(n=1", "test-probe(n)"} {
		if _, err := Build(bad, nil); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("Build(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

// Build warns about, or refuses, every order known to be wrong, and is silent about the
// orders that work.
func TestBuildChecksOrder(t *testing.T) {
	spec := func(name string) string {
		if name == "encrypt" {
			return "encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f)"
		}
		return name
	}
	for _, w := range wrongOrders {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		wrong := spec(w.above) + "," + spec(w.below)
		_, err := Build(wrong, log)
		switch {
		case w.refused && !errors.Is(err, channel.ErrInvalidConfig):
			t.Errorf("Build(%q) = %v, want ErrInvalidConfig", wrong, err)
		case !w.refused && (err != nil || !strings.Contains(buf.String(), "level=WARN") ||
			!strings.Contains(buf.String(), "above="+w.above) || !strings.Contains(buf.String(), "below="+w.below)):
			t.Errorf("Build(%q) = %v, logged %q; want a warning", wrong, err, buf.String())
		}
		buf.Reset()
		right := spec(w.below) + ",throughput," + spec(w.above)
		if _, err := Build(right, log); err != nil || buf.Len() != 0 {
			t.Errorf("Build(%q) = %v, logged %q; want silence", right, err, buf.String())
		}
	}
	var buf bytes.Buffer
	if _, err := Build("order,dispatch,gzip,encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f),fragmentation,ping,tcpfailure",
		slog.New(slog.NewTextHandler(&buf, nil))); err != nil || buf.Len() != 0 {
		t.Fatalf("the documented secure stack: %v, logged %q", err, buf.String())
	}
}
