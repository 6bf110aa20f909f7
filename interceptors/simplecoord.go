package interceptors

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// DefaultQuietPeriod is how long SimpleCoordinator waits for the membership to stay
// unchanged before it installs a view (Tomcat: 10 checks 250 ms apart).
const DefaultQuietPeriod = 2500 * time.Millisecond

// SimpleCoordinatorConfig configures a SimpleCoordinator.
type SimpleCoordinatorConfig struct {
	// QuietPeriod: the view is installed once the membership has not changed for this long
	// (default 2.5 s, as Tomcat).
	QuietPeriod time.Duration
	// OnViewChange, if set, is called with every new view, from a timer goroutine, one call
	// at a time. It must not call Stop.
	OnViewChange func(view []channel.Member)
}

// SimpleCoordinator is Tribes' SimpleCoordinator: no messages, no election. Once the
// membership has been quiet for QuietPeriod, the view is the members plus the local member
// in absolute order (CompareAbsolute), and the coordinator is its first member. Every node
// that sees the same membership agrees on the coordinator. Unlike Tomcat's, it does not
// block the membership event that triggers it: a timer installs the view.
type SimpleCoordinator struct {
	channel.InterceptorBase
	cfg SimpleCoordinatorConfig

	mu      sync.Mutex
	running bool
	gen     uint64
	timer   *time.Timer
	view    []channel.Member
	changed chan struct{} // closed and replaced when the view changes
	install sync.Mutex    // serialises installs and OnViewChange calls
}

// NewSimpleCoordinator returns a SimpleCoordinator.
func NewSimpleCoordinator(cfg SimpleCoordinatorConfig) (*SimpleCoordinator, error) {
	if cfg.QuietPeriod == 0 {
		cfg.QuietPeriod = DefaultQuietPeriod
	}
	if cfg.QuietPeriod < 0 {
		return nil, configError("simplecoordinator: negative QuietPeriod")
	}
	return &SimpleCoordinator{cfg: cfg, changed: make(chan struct{})}, nil
}

// Start starts the layers below and schedules the first view.
func (c *SimpleCoordinator) Start(ctx context.Context, svc channel.Service) error {
	if err := c.Next().Start(ctx, svc); err != nil {
		return err
	}
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	c.membershipChanged()
	return nil
}

// Stop cancels a pending view installation and stops the layers below. The last view is
// kept.
func (c *SimpleCoordinator) Stop(ctx context.Context, svc channel.Service) error {
	c.mu.Lock()
	c.running = false
	c.gen++
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	return c.Next().Stop(ctx, svc)
}

// MemberAdded passes the event up and restarts the quiet period.
func (c *SimpleCoordinator) MemberAdded(m channel.Member) {
	c.Prev().MemberAdded(m)
	c.membershipChanged()
}

// MemberDisappeared passes the event up and restarts the quiet period.
func (c *SimpleCoordinator) MemberDisappeared(m channel.Member) {
	c.Prev().MemberDisappeared(m)
	c.membershipChanged()
}

func (c *SimpleCoordinator) membershipChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return
	}
	c.gen++
	gen := c.gen
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(c.cfg.QuietPeriod, func() { c.installView(gen) })
}

func (c *SimpleCoordinator) installView(gen uint64) {
	c.install.Lock()
	defer c.install.Unlock()
	c.mu.Lock()
	if gen != c.gen || !c.running {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	view := viewOf(c.LocalMember(false), c.Members())
	c.mu.Lock()
	if gen != c.gen || (c.view != nil && slices.EqualFunc(view, c.view, channel.Member.Equal)) {
		c.mu.Unlock()
		return
	}
	c.view = view
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	if c.cfg.OnViewChange != nil {
		c.cfg.OnViewChange(slices.Clone(view))
	}
}

// View returns the installed view in absolute order, or nil before the first one.
func (c *SimpleCoordinator) View() []channel.Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.view)
}

// ViewChanged returns a channel that is closed when a view is installed after the call:
// it tells of no view installed before it, and one close may stand for several views
// (View returns the last). A view installed between a read of View and a later call of
// ViewChanged is therefore missed by who waits on that channel. To wait for a view
// without missing one, take the channel first, then read View, and loop:
//
//	for {
//		changed := c.ViewChanged()
//		if v := c.View(); len(v) >= 3 { // the view waited for
//			return v, nil
//		}
//		select {
//		case <-changed:
//		case <-ctx.Done():
//			return nil, ctx.Err()
//		}
//	}
//
// (TestSimpleCoordinatorViewChangedTakenFirstMissesNoView.)
func (c *SimpleCoordinator) ViewChanged() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Coordinator returns the first member of the view.
func (c *SimpleCoordinator) Coordinator() (channel.Member, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.view) == 0 {
		return channel.Member{}, false
	}
	return c.view[0], true
}

// IsCoordinator reports whether the local member is the coordinator.
func (c *SimpleCoordinator) IsCoordinator() bool {
	co, ok := c.Coordinator()
	return ok && co.Equal(c.LocalMember(false))
}

func init() {
	Register("simplecoordinator", func(p *Props) (channel.Interceptor, error) {
		return NewSimpleCoordinator(SimpleCoordinatorConfig{QuietPeriod: p.Duration("quietPeriod", DefaultQuietPeriod)})
	})
}
