package delta

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// serve is a state transfer being served (Manager.serving). Once its last chunk was
// acknowledged and its EVT_ALL_SESSION_TRANSFERCOMPLETE is on its way (completing), the
// joiner may be done with it: a new request from that member (a refresh right after its
// state transfer, refresh.go) is served anew, not refused as a duplicate. id is the
// request's UniqueID when it asks for it in every message of the answer (AskEcho).
type serve struct {
	completing atomic.Bool
	id         string
}

// serveAll is the donor side: once a slot is free (Config.MaxConcurrentTransfers), stream
// every session to the joiner in chunks, reading the live table shard by shard (never a
// copy of the whole table), each chunk acknowledged after the joiner applied it and at
// most transferWindow unacknowledged, then EVT_ALL_SESSION_TRANSFERCOMPLETE once all
// were. to is the membership's record of the joiner. With removals (a refresh asks), the
// removals this node remembers follow the sessions (removals.go). ask holds the bits of
// the request (AskRemovals, AskStamps: the sessions carry their attributes' stamps,
// AskBorn: the version of the removal they were made again above, AskMetaStamps: the
// stamps of their other parts). With since (not 0: a joiner's catch-up, AskRecent), only
// the sessions this node sent a message about at or after that time (unix ms) go, and
// with AskBack (a member back in view) those it took another node's change of then too
// (forRecent).
func (m *Manager) serveAll(ctx context.Context, to channel.Member, sv *serve, ask uint64, since int64) {
	removals, stamps := ask&AskRemovals != 0, ask&AskStamps != 0
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		if m.serving[to.Key()] == sv {
			delete(m.serving, to.Key())
		}
		m.mu.Unlock()
	}()
	if since == 0 {
		if !m.takeSlot(ctx) {
			return
		}
		defer m.releaseSlot()
	} else { // a catch-up, small and answered at once, has slots of its own (receive.go)
		select {
		case m.catchUpSlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-m.catchUpSlots }()
	}
	start := time.Now()
	ts := nowMs()
	total := m.Len() // the joiner's hint for sizing its table
	dst := []channel.Member{to}
	chunk := make([]SessionState, 0, min(m.cfg.SendAllSessionsSize, 4096))
	var values []NamedValue // the chunk's attributes and notes (Session.transferable)
	var tombs *[]tomb       // with stamps, the chunk's removals likewise
	if stamps {
		tombs = new([]tomb)
	}
	size := 0
	// Each chunk in flight holds one of the window's encoding buffers until its send
	// returned; a send's error ends the transfer (sends already in flight finish).
	bufs := make(chan []byte, transferWindow)
	for range transferWindow {
		bufs <- nil
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		err  error // the first error of an encoding, a send or ctx, under mu
		sent int   // sessions in acknowledged chunks, under mu
	)
	fail := func(e error) error {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			err = e
		}
		return err
	}
	flush := func() {
		buf := <-bufs
		n := len(chunk)
		var eerr error
		msg := &Message{Event: EventAllSessionData, Context: m.cfg.Name,
			SessionID: idSessionState, UniqueID: sv.id, Timestamp: ts, Sessions: chunk, Total: total}
		buf, eerr = m.cl.codec.AppendMessage(buf[:0], msg)
		// Sessions the codec left out for values past its limits (JavaCodec's).
		n -= msg.refusedCount()
		m.refusedInChunk(msg, to.Addr(), "served")
		clear(chunk)
		clear(values)
		chunk, values, size = chunk[:0], values[:0], 0
		if tombs != nil {
			clear(*tombs)
			*tombs = (*tombs)[:0]
		}
		if eerr != nil {
			fail(eerr)
			bufs <- buf
			return
		}
		wg.Go(func() {
			defer func() { bufs <- buf }()
			if serr := m.cl.send(ctx, dst, buf, transferOpts); serr != nil {
				fail(serr)
				return
			}
			mu.Lock()
			sent += n
			mu.Unlock()
			m.stats.sent[EventAllSessionData].Add(1)
			m.stats.bytesSent.Add(uint64(len(buf)))
		})
	}
	refused := 0 // sessions carrying a change refused here (transfer_unsent.go)
	visit := func(s *Session) bool {
		st, r, ok := s.transferableMarked(&values, tombs, ask)
		if !ok {
			return true
		}
		if r {
			refused++
		}
		chunk = append(chunk, st)
		size += sessionSize(&st)
		if len(chunk) >= m.cfg.SendAllSessionsSize || size >= m.cfg.SendAllSessionsBytes {
			flush()
		}
		return fail(ctx.Err()) == nil
	}
	if since != 0 {
		m.forRecent(since, ask&AskBack != 0, visit)
	} else {
		m.st.forEach(visit)
	}
	if since != 0 || (removals && sendsRemovals(m.cl.codec)) {
		for _, r := range m.gone.list(since) {
			if fail(ctx.Err()) != nil {
				break
			}
			chunk = append(chunk, r)
			if len(chunk) >= m.cfg.SendAllSessionsSize {
				flush()
			}
		}
	}
	if fail(nil) == nil && len(chunk) > 0 {
		flush()
	}
	wg.Wait()
	if err == nil {
		sv.completing.Store(true)
		var told uint64 // with stamps, 1 + the sessions that carried a refused change
		if stamps {
			told = uint64(refused) + 1
		}
		err = m.sendTo(ctx, dst, &Message{Event: EventTransferComplete, SessionID: idTransferred,
			UniqueID: cmp.Or(sv.id, idTransferred+m.cfg.Name), Timestamp: ts, Version: told}, transferOpts)
	}
	m.stats.served.Add(uint64(sent))
	// A member may ask as often as it likes (a catch-up is answered at once, a transfer
	// once the one before ended), so these lines are rate-limited per member
	// (TestCatchUpAnswersLogBounded).
	if err != nil {
		m.stats.sendFailures.Add(1)
		m.serveLog.LogFunc(slog.LevelWarn, to.Addr(), "transfer aborted", "delta: state transfer to a joining member aborted",
			func() []any { return []any{"to", to.Addr(), "sent", sent, "err", err} })
		return
	}
	what := "delta: sent every session to a joining member"
	if since != 0 {
		what = "delta: sent the sessions sent about lately to a joining member (its catch-up)"
	}
	m.serveLog.LogFunc(slog.LevelInfo, to.Addr(), what, what,
		func() []any { return []any{"to", to.Addr(), "sessions", sent, "elapsed", time.Since(start)} })
}

// takeSlot waits for one of the Config.MaxConcurrentTransfers slots of a state transfer
// served; false when ctx ended first.
func (m *Manager) takeSlot(ctx context.Context) bool {
	m.stats.transfersWaiting.Add(1)
	defer m.stats.transfersWaiting.Add(-1)
	select {
	case m.slots <- struct{}{}:
		m.stats.transfersActive.Add(1)
		return true
	case <-ctx.Done():
		return false
	}
}

// releaseSlot frees the slot takeSlot took.
func (m *Manager) releaseSlot() {
	m.stats.transfersActive.Add(-1)
	<-m.slots
}
