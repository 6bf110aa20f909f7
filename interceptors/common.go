package interceptors

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// Option bits claimed by the interceptors of this package. Only OptGzip exists in Java
// Tribes; OptZstd and OptS2 are this port's own and only mean something between Go nodes.
const (
	// OptGzip (0x0100) marks a gzip-compressed payload (Tomcat's
	// GzipInterceptor.DEFAULT_OPTION_COMPRESSION_ENABLE).
	OptGzip channel.SendOptions = 0x0100
	// OptZstd (0x0200) marks a zstd-compressed payload. Go-to-Go only.
	OptZstd channel.SendOptions = 0x0200
	// OptS2 (0x0400) marks an S2-compressed payload. Go-to-Go only.
	OptS2 channel.SendOptions = 0x0400
)

// sendEach sends one message per destination, in parallel, each built by mk, and merges
// the failures into one *channel.SendError. mk must return a message that the caller may
// hand down the chain (its own Data).
func sendEach(ctx context.Context, next channel.Interceptor, to []channel.Member, id []byte,
	mk func(i int) *channel.Message) error {
	if len(to) == 1 {
		return next.SendMessage(ctx, to, mk(0))
	}
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	for i := 1; i < len(to); i++ {
		wg.Go(func() { errs[i] = next.SendMessage(ctx, to[i:i+1], mk(i)) })
	}
	errs[0] = next.SendMessage(ctx, to[:1], mk(0))
	wg.Wait()
	var faulty []channel.FaultyMember
	for i, err := range errs {
		faulty = channel.AppendFaulty(faulty, err, to[i:i+1])
	}
	return channel.NewSendError(id, faulty)
}

// failedMembers returns the members of to that err names as faulty (all of them if err is
// not a *channel.SendError), and whether any member succeeded.
func failedMembers(err error, to []channel.Member) map[channel.MemberKey]bool {
	if err == nil {
		return nil
	}
	bad := map[channel.MemberKey]bool{}
	for _, f := range channel.AppendFaulty(nil, err, to) {
		bad[f.Member.Key()] = true
	}
	return bad
}

// without returns the members of to not in bad (to itself when bad is empty).
func without(to []channel.Member, bad map[channel.MemberKey]bool) []channel.Member {
	if len(bad) == 0 {
		return to
	}
	out := make([]channel.Member, 0, len(to))
	for _, m := range to {
		if !bad[m.Key()] {
			out = append(out, m)
		}
	}
	return out
}

// chainAbove returns the interceptors above ic (towards the application), nearest first.
// It stops at the channel's own top layer, which is not an interceptor of the stack.
func chainAbove(ic channel.Interceptor) []channel.Interceptor {
	type linked interface{ Prev() channel.Interceptor }
	var out []channel.Interceptor
	for {
		l, ok := ic.(linked)
		if !ok {
			return out
		}
		p := l.Prev()
		if p == nil {
			return out
		}
		out = append(out, p)
		ic = p
	}
}

// chainBelow returns the layers below ic, nearest first, down to the channel's coordinator.
func chainBelow(ic channel.Interceptor) []channel.Interceptor {
	type linked interface{ Next() channel.Interceptor }
	var out []channel.Interceptor
	for {
		l, ok := ic.(linked)
		if !ok {
			return out
		}
		n := l.Next()
		if n == nil {
			return out
		}
		out = append(out, n)
		ic = n
	}
}

// The neighbours interceptors look for in the stack, by what they can do.
type (
	// memberChecker is a failure detector (TCPFailureDetector): asked to check every
	// member now.
	memberChecker interface{ CheckMembers(force bool) }
	// staticMemberLister is a static membership (StaticMembership).
	staticMemberLister interface{ StaticMembers() []channel.Member }
	// pinger is a ping interceptor (TCPPing).
	pinger interface{ Ping(ctx context.Context) }
)

// has reports whether one of ics implements T.
func has[T any](ics []channel.Interceptor) bool {
	for _, ic := range ics {
		if _, ok := ic.(T); ok {
			return true
		}
	}
	return false
}

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{channel.ErrInvalidConfig}, args...)...)
}

// fromMember reports whether src is the local member or a member the chain below ic lists,
// matching a member listed without a unique id by its address alone: the channel's own
// sender check (channel.Config.AcceptNonMembers), for interceptors that must not hold a
// stranger's messages until that check runs.
func fromMember(ic channel.Interceptor, src channel.Member) bool {
	k := src.Key()
	if k == ic.LocalMember(false).Key() {
		return true
	}
	if _, ok := ic.Member(k); ok {
		return true
	}
	if src.UniqueID == (channel.UniqueID{}) {
		return false
	}
	_, ok := ic.Member(channel.Member{Host: src.Host, Port: src.Port}.Key())
	return ok
}

// notMemberError is the error of a message refused because its source is not a member.
func notMemberError(name string, msg *channel.Message) error {
	return fmt.Errorf("tribes: %s: message %s: %w: %s", name, msg.IDString(), channel.ErrNotMember, msg.Source.Addr())
}

// completion gives the copies an interceptor sends for one message (Order's one per
// destination, Fragmentation's pieces, TwoPhaseCommit's message and confirmation) one
// shared OnComplete, so that the message's own OnComplete is called once, as the contract
// of MessageDispatch asks, with the outcomes of all the copies: nil, or a
// *channel.SendError naming every member a copy failed for (its first error per member).
//
// The sender calls part for each copy, and sent once with what its SendMessage returns. A
// non-nil error there means OnComplete must not be called (the send failed, the caller
// knows): the copies that were accepted still complete, into nothing. A nil completion
// (the message has no OnComplete) hands out nil callbacks.
type completion struct {
	cb func(error)
	id []byte

	mu      sync.Mutex
	pending int  // copies outstanding, plus one until sent
	refused bool // the send returned an error: cb is not called
	parts   int
	first   error // the outcome of the only copy, when there is one
	faulty  []channel.FaultyMember
	seen    map[channel.MemberKey]bool
	other   error // the first error that names no member (a multicast copy's)
}

func newCompletion(msg *channel.Message) *completion {
	if msg.OnComplete == nil {
		return nil
	}
	return &completion{cb: msg.OnComplete, id: msg.ID, pending: 1}
}

// part returns the OnComplete of a copy sent to to.
func (c *completion) part(to []channel.Member) func(error) {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	c.pending++
	c.parts++
	c.mu.Unlock()
	var once sync.Once
	return func(err error) { once.Do(func() { c.done(to, err) }) }
}

func (c *completion) done(to []channel.Member, err error) {
	c.mu.Lock()
	c.first = err
	if err != nil {
		if f := channel.AppendFaulty(nil, err, to); len(f) > 0 {
			if c.seen == nil {
				c.seen = map[channel.MemberKey]bool{}
			}
			for _, fm := range f {
				if k := fm.Member.Key(); !c.seen[k] {
					c.seen[k] = true
					c.faulty = append(c.faulty, fm)
				}
			}
		} else if c.other == nil {
			c.other = err
		}
	}
	c.pending--
	c.fire() // unlocks
}

// sent tells c that the sender has handed down every copy and returns err, its result.
func (c *completion) sent(err error) error {
	if c == nil {
		return err
	}
	c.mu.Lock()
	if err != nil {
		c.refused = true
	}
	c.pending--
	c.fire()
	return err
}

// fire calls cb once every copy completed and the send returned nil. Caller holds c.mu;
// fire releases it.
func (c *completion) fire() {
	if c.pending > 0 || c.refused {
		c.mu.Unlock()
		return
	}
	c.refused = true // never again
	var err error
	if c.parts == 1 {
		err = c.first
	} else if se := channel.NewSendError(c.id, c.faulty); se != nil && c.other != nil {
		err = errors.Join(se, c.other)
	} else if se != nil {
		err = se
	} else {
		err = c.other
	}
	c.mu.Unlock()
	c.cb(err)
}
