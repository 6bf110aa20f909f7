package interceptors

import (
	"errors"
	"slices"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// completion gives the copies an interceptor sends for one message (Order's one per
// destination, Fragmentation's pieces, TwoPhaseCommit's message and confirmation) one
// shared OnComplete, so that the message's own OnComplete is called once, as the contract
// of MessageDispatch asks, with the outcomes of all the copies: nil, or a
// *channel.SendError naming every member a copy failed for (its first error per member).
//
// The sender calls part for each copy, settle with what the copy's SendMessage returned,
// and sent once with what its own SendMessage returns. A copy whose send failed for every
// member of it (or with an error naming none) completes never, and settle counts it done.
// When sent's error names only some of the destinations (partial), OnComplete is called
// all the same once the accepted copies completed, with their outcome for the other
// destinations only: the caller learns from the returned error which members failed at
// once, and from OnComplete what became of the copies to the others. When it names every
// destination, or none, OnComplete is not called. A nil completion (the message has no
// OnComplete) hands out nil callbacks.
type completion struct {
	cb func(error)
	id []byte

	mu       sync.Mutex
	pending  int  // copies outstanding, plus one until sent
	refused  bool // the send returned an error naming every destination: cb is not called
	parts    int
	dests    []channel.Member           // the members the copies went to
	excluded map[channel.MemberKey]bool // members the send's own error named: not reported again
	first    error                      // the outcome of the only copy, when there is one
	faulty   []channel.FaultyMember
	seen     map[channel.MemberKey]bool
	other    error // the first error that names no member (a multicast copy's)
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
	for _, m := range to {
		if !containsMember(c.dests, m) {
			c.dests = append(c.dests, m)
		}
	}
	c.mu.Unlock()
	var once sync.Once
	return func(err error) { once.Do(func() { c.done(to, err) }) }
}

// settle tells c what the SendMessage of a copy sent to to returned: a copy refused for
// all of to (or with an error naming no member) will not complete, by the contract, and
// counts as done now; an accepted copy, or one refused for only some of to, completes
// through its callback.
func (c *completion) settle(to []channel.Member, err error) {
	if c == nil || err == nil || partial(err, to) {
		return
	}
	c.mu.Lock()
	c.pending--
	c.fire() // unlocks
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
		if partial(err, c.dests) {
			c.excluded = map[channel.MemberKey]bool{}
			for _, f := range channel.FaultyMembers(err) {
				c.excluded[f.Member.Key()] = true
			}
		} else {
			c.refused = true
		}
	}
	c.pending--
	c.fire()
	return err
}

// fire calls cb once every copy completed and the send returned nil, or an error naming
// only some destinations. Caller holds c.mu; fire releases it.
func (c *completion) fire() {
	if c.pending > 0 || c.refused {
		c.mu.Unlock()
		return
	}
	c.refused = true // never again
	var err error
	if c.parts == 1 && c.excluded == nil {
		err = c.first
	} else {
		faulty := c.faulty
		if c.excluded != nil {
			faulty = nil
			for _, f := range c.faulty {
				if !c.excluded[f.Member.Key()] {
					faulty = append(faulty, f)
				}
			}
		}
		if se := channel.NewSendError(c.id, faulty); se != nil && c.other != nil {
			err = errors.Join(se, c.other)
		} else if se != nil {
			err = se
		} else {
			err = c.other
		}
	}
	c.mu.Unlock()
	c.cb(err)
}

// partial reports whether err is a *channel.SendError that leaves out some member of to:
// the copies to those were accepted.
func partial(err error, to []channel.Member) bool {
	faulty := channel.FaultyMembers(err)
	return faulty != nil && slices.ContainsFunc(to, func(m channel.Member) bool {
		return !slices.ContainsFunc(faulty, func(f channel.FaultyMember) bool { return f.Member.Key() == m.Key() })
	})
}

func containsMember(ms []channel.Member, m channel.Member) bool {
	return slices.ContainsFunc(ms, func(x channel.Member) bool { return x.Key() == m.Key() })
}
