package interceptors

import (
	"errors"
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
