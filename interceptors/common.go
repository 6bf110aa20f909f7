package interceptors

import (
	"context"
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
// done, if not nil, is the completion whose parts mk hands out: each copy's result is
// settled in it.
func sendEach(ctx context.Context, next channel.Interceptor, to []channel.Member, id []byte, done *completion,
	mk func(i int) *channel.Message) error {
	send := func(i int) error {
		err := next.SendMessage(ctx, to[i:i+1], mk(i))
		done.settle(to[i:i+1], err)
		return err
	}
	if len(to) == 1 {
		return send(0)
	}
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	for i := 1; i < len(to); i++ {
		wg.Go(func() { errs[i] = send(i) })
	}
	errs[0] = send(0)
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
// matching a member listed without a unique id by its address alone.
func fromMember(ic channel.Interceptor, src channel.Member) bool {
	return memberBy(ic.LocalMember(false), ic.Member, src)
}

// fromChannelMember reports whether the channel's own sender check
// (channel.Config.AcceptNonMembers) takes src for a member: the local member, or one the
// whole chain lists, asked from its top (ChannelMember), an interceptor above ic (a
// StaticMembership) included. For interceptors that must not hold a stranger's messages
// until that check runs.
func fromChannelMember(ic interface {
	LocalMember(bool) channel.Member
	ChannelMember(channel.MemberKey) (channel.Member, bool)
}, src channel.Member) bool {
	return memberBy(ic.LocalMember(false), ic.ChannelMember, src)
}

// memberBy reports whether src is local or found by lookup, by its key or, for a member
// listed without a unique id, by its address alone.
func memberBy(local channel.Member, lookup func(channel.MemberKey) (channel.Member, bool), src channel.Member) bool {
	if src.Key() == local.Key() {
		return true
	}
	_, ok := channel.ListedAs(lookup, src)
	return ok
}

// notMemberError is the error of a message refused because its source is not a member.
func notMemberError(name string, msg *channel.Message) error {
	return fmt.Errorf("tribes: %s: message %s: %w: %s", name, msg.IDString(), channel.ErrNotMember, msg.Source.Addr())
}
