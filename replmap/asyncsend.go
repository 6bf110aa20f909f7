package replmap

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// A map whose SendOptions carry channel.OptAsync, on a channel with an interceptor of
// that flag (the message dispatch interceptor), hands its messages to a queue: send
// returns before they leave, and the key lock a Replicate or publish held while it sent
// says nothing of them. A removal forwarded to a backup node (forward.go) must still
// cover a MSG_BACKUP of the key on its way, which may reach that node after another
// member's Put there, naming as the primary this node, no longer one. So the map counts,
// per key, its MSG_BACKUP, MSG_COPY and MSG_PROXY queued and not completed (the
// dispatch calls the message's OnComplete exactly once when SendMessage accepted it):
// such a send counts as under way for the forward, which then waits for it to complete
// before it sends, so that the removal follows it
// (TestForwardedRemoveCoversAnAsyncReplicateStillOnItsWay). A message sent without
// OptAsync, or through a channel without such an interceptor, is not counted: its send
// returned after it left (with synchronized ACKs, after it was applied).

// asyncSends are the keys with messages the dispatch has not completed, m.mu held.
type asyncSends map[string]*asyncKey

// asyncKey counts a key's messages not completed; done is closed once none is left.
type asyncKey struct {
	n    int
	done chan struct{}
}

// tracksAsync reports whether cfg's messages go through an interceptor that sends them
// on its own goroutines (OptAsync, and an interceptor of that flag in the channel).
func tracksAsync(cfg Config) bool {
	if cfg.SendOptions&channel.OptAsync == 0 {
		return false
	}
	for _, i := range cfg.Channel.Interceptors() {
		if i.OptionFlag() == channel.OptAsync {
			return true
		}
	}
	return false
}

// trackAsync counts msg, about to be sent to to, as a send of its key under way when
// the map's sends are asynchronous (tracksAsync) and msg carries the key's value or
// primary (MSG_BACKUP, MSG_COPY, MSG_PROXY): it sets cm's OnComplete, and returns the
// function the caller calls with SendMessage's error (nil: nothing to call).
func (m *Map) trackAsync(msg *message, cm *channel.Message, to []channel.Member) func(error) {
	if !m.async || msg.Key == nil || msg.Type != msgBackup && msg.Type != msgCopy && msg.Type != msgProxy {
		return nil
	}
	k := string(msg.Key)
	m.mu.Lock()
	if m.asyncSends == nil {
		m.asyncSends = asyncSends{}
	}
	a := m.asyncSends[k]
	if a == nil {
		a = &asyncKey{done: make(chan struct{})}
		m.asyncSends[k] = a
	}
	a.n++
	m.mu.Unlock()
	var once sync.Once
	finish := func() {
		once.Do(func() {
			m.mu.Lock()
			if a.n--; a.n == 0 {
				delete(m.asyncSends, k)
				close(a.done)
			}
			m.mu.Unlock()
		})
	}
	cm.OnComplete = func(error) { finish() }
	return func(err error) {
		// OnComplete comes after nil, and after a *SendError naming only some of the
		// destinations (channel.Message.OnComplete); not after another error.
		var se *channel.SendError
		if err != nil && (!errors.As(err, &se) || len(se.Faulty) >= len(to)) {
			finish()
		}
	}
}

// asyncUnderwayLocked reports whether a message of the key under k the map sent is
// still queued (trackAsync), m.mu held.
func (m *Map) asyncUnderwayLocked(k string) bool { return m.asyncSends[k] != nil }

// awaitAsyncLocked waits, m.mu held (released while it waits), until no message of the
// key under k is queued (trackAsync), or ctx ends: then it returns an error wrapping
// ctx's.
func (m *Map) awaitAsyncLocked(ctx context.Context, k string) error {
	for {
		a := m.asyncSends[k]
		if a == nil {
			return nil
		}
		m.mu.Unlock()
		var err error
		select {
		case <-a.done:
		case <-ctx.Done():
			err = fmt.Errorf("replmap: forward: waiting for a queued send of the key: %w", ctx.Err())
		}
		m.mu.Lock()
		if err != nil {
			return err
		}
	}
}
