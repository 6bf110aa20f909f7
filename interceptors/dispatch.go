package interceptors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/callq"
)

// Defaults of MessageDispatch, with Tomcat's attribute names.
const (
	// DefaultDispatchQueueSize is maxQueueSize: the bytes that may wait for (or be in) an
	// asynchronous send.
	DefaultDispatchQueueSize = 64 << 20
	// DefaultDispatchThreads is maxThreads: the number of sending goroutines.
	DefaultDispatchThreads = 10
)

var (
	// ErrDispatchStopped is reported for an asynchronous message that could not be sent
	// because the dispatch interceptor is not running or was stopped before the message
	// went out. Messages still queued when Stop's context ends get it through OnComplete.
	ErrDispatchStopped = errors.New("tribes: message dispatch is not running")
	// ErrDispatchQueueFull is returned by Send for an asynchronous message that does not fit
	// into the queue when DispatchConfig.FailWhenFull is set (Tomcat alwaysSend=false).
	ErrDispatchQueueFull = errors.New("tribes: message dispatch queue is full")
)

// DispatchConfig configures a MessageDispatch. The zero value is Tomcat's default.
type DispatchConfig struct {
	// MaxQueueSize bounds the payload bytes of the messages queued or being sent
	// (Tomcat maxQueueSize, default 64 MiB).
	MaxQueueSize int64
	// MaxThreads is the number of goroutines that send queued messages (Tomcat maxThreads,
	// default 10). Messages sent by different goroutines may overtake each other: put
	// Order above MessageDispatch when the order matters.
	MaxThreads int
	// FailWhenFull makes Send return ErrDispatchQueueFull when a message does not fit into
	// the queue. By default (Tomcat alwaysSend=true) such a message is sent synchronously,
	// on the caller's goroutine.
	FailWhenFull bool
}

// DispatchStats are a MessageDispatch's counters.
type DispatchStats struct {
	Queued       uint64 // messages accepted into the queue
	Sent         uint64 // queued messages whose send succeeded
	Failed       uint64 // queued messages whose send failed (including ErrDispatchStopped)
	SentSync     uint64 // messages sent synchronously because the queue was full
	Rejected     uint64 // messages refused (queue full with FailWhenFull, or not running)
	QueuedBytes  int64  // bytes queued or being sent now
	PendingCount int    `metrics:"pending"` // messages queued or being sent now (as a metric "pending": _count is for histograms)
}

// MessageDispatch is Tribes' MessageDispatchInterceptor: messages sent with
// channel.OptAsync are copied into a queue and sent by a pool of goroutines, and
// SendMessage returns as soon as the message is queued. The outcome of each queued message
// (nil, or the typed error of the layers below, e.g. a *channel.SendError) is passed to the
// message's OnComplete callback, exactly once.
//
// The contract of OnComplete: when SendMessage returns nil for an asynchronous message,
// OnComplete (if set) will be called exactly once with its outcome; when SendMessage returns
// a *channel.SendError that names only some of the destinations (the copies to the others
// were accepted: an interceptor above sent the message as several copies, or the
// synchronous fallback reached the others), OnComplete is called exactly once with the
// outcome for the others only; when SendMessage returns another error, OnComplete is not
// called. Nothing is dropped silently: on Stop, queued messages
// are sent until the context ends, and whatever is left then is completed with an error
// wrapping ErrDispatchStopped.
//
// Messages without OptAsync pass through synchronously. The flag is left in the options and
// travels on the wire, as in Java, where it has no meaning to the receiver.
type MessageDispatch struct {
	channel.InterceptorBase

	cfg DispatchConfig

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*dispatchTask // FIFO; head at index 0
	bytes    int64           // queued + in flight
	pending  int
	run      *dispatchRun // the running run; nil once its Stop began
	stopping stoppingRuns // runs whose workers a Stop did not wait for
	// upCalls: the goroutines inside an OnComplete call that began while a Stop ran, by
	// goroutine id (a Stop waits for them, or let them go), and upDone, closed once none
	// is left (nil then).
	upCalls map[uint64]int
	upDone  chan struct{}

	queued, sent, failed, sentSync, rejected atomic.Uint64
}

// dispatchRun is one run of the workers, from a Start to the Stop that ends it.
type dispatchRun struct {
	g     *runGroup
	ctx   context.Context // cancelled when a Stop gives up waiting: the sends under way end
	abort context.CancelFunc
	// Under MessageDispatch.mu:
	busy   int           // workers alive and not inside an OnComplete call Stop does not wait for
	held   int           // workers inside an OnComplete call Stop waits for (counted in busy)
	closed bool          // the run's Stop is over: its workers take nothing more and end
	let    bool          // the run's Stop waits for no OnComplete call any more
	idle   chan struct{} // holds a token once busy dropped to 0
}

// letGo makes r's Stop wait for no OnComplete call any more: the workers inside one it
// waited for leave busy and mark r's group as inside a call up, as those inside a call
// begun before the Stop. Under d.mu.
func (r *dispatchRun) letGo() {
	if r.let {
		return
	}
	r.let = true
	r.g.up.Add(int32(r.held))
	for range r.held {
		r.leave()
	}
	r.held = 0
}

// leave takes a worker out of busy: it ended or calls an OnComplete. Under d.mu.
func (r *dispatchRun) leave() {
	r.busy--
	if r.busy == 0 {
		select {
		case r.idle <- struct{}{}:
		default: // a token is there already
		}
	}
}

type dispatchTask struct {
	ctx  context.Context
	to   []channel.Member
	msg  *channel.Message
	size int64
	done func(error)
}

// NewMessageDispatch returns a dispatch interceptor with flag channel.OptAsync.
func NewMessageDispatch(cfg DispatchConfig) (*MessageDispatch, error) {
	if cfg.MaxQueueSize == 0 {
		cfg.MaxQueueSize = DefaultDispatchQueueSize
	}
	if cfg.MaxThreads == 0 {
		cfg.MaxThreads = DefaultDispatchThreads
	}
	if cfg.MaxQueueSize < 0 || cfg.MaxThreads < 0 {
		return nil, configError("dispatch: MaxQueueSize and MaxThreads must not be negative")
	}
	d := &MessageDispatch{cfg: cfg}
	d.Flag = channel.OptAsync
	d.cond = sync.NewCond(&d.mu)
	return d, nil
}

// Config returns the configuration in use (defaults filled in).
func (d *MessageDispatch) Config() DispatchConfig { return d.cfg }

// Start starts the sending goroutines with the sender level, after the layers below. The
// workers of a run whose Stop returned before they ended (see Stop) are waited for first,
// within ctx: if ctx ends first, Start returns an error wrapping ctx.Err() and starts
// nothing, so that new workers never send beside old ones. Neither waits for a worker
// inside an OnComplete call when it begins: the caller may be that callback, restarting
// the channel (TestDispatchRestartFromOnComplete); such a worker takes none of the new
// run's messages and ends once its callback returned.
func (d *MessageDispatch) Start(ctx context.Context, svc channel.Service) error {
	if err := d.stopping.await(ctx, "dispatch: start"); err != nil {
		return err
	}
	if err := d.Next().Start(ctx, svc); err != nil {
		return err
	}
	if svc&channel.SvcSender == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != nil {
		return nil
	}
	rctx, abort := context.WithCancel(context.Background())
	r := &dispatchRun{g: newRunGroup(), ctx: rctx, abort: abort, busy: d.cfg.MaxThreads, idle: make(chan struct{}, 1)}
	d.run = r
	for range d.cfg.MaxThreads {
		r.g.Go(func() { d.work(r) })
	}
	return nil
}

// Stop stops the sending goroutines with the sender level, before the layers below. It
// first lets them send what is queued; if ctx ends before the queue is empty, the queued
// messages are completed with ErrDispatchStopped (their OnComplete callbacks run on a
// goroutine of their own that Stop does not wait for, as a callback may stop the channel,
// TestDispatchStopFromTheCallbackOfAMessageItFailed) and the sends in progress are
// cancelled (they complete with an error wrapping both ErrDispatchStopped and the cause),
// and Stop returns an error wrapping ctx.Err() (joined with the layers below's, which it
// stops all the same) without waiting for the cancelled sends: a send below that ignores
// its cancellation does not hold Stop. Its worker ends in the background; a later Stop waits
// for it again within its own ctx, and so does a Start before it starts anything
// (TestDispatchStopHonoursItsContext). A dispatcher with nothing queued or in flight stops
// whatever ctx, an ended one included, and returns the layers below's error only
// (TestDispatchIdleStopWithAnEndedContext).
//
// OnComplete callbacks run on the workers, and a callback may stop the channel: Stop does
// not wait for a worker inside an OnComplete call begun before it (the caller may be that
// callback, which cannot return before Stop does), as the channel's Stop does not wait
// for a heartbeat under way. When every worker left is inside such a call while messages
// are still queued, Stop starts another worker to send them, so that they still go out,
// within ctx, before Stop returns (TestDispatchStopFromOnComplete). The callbacks of the
// messages Stop sends (those that begin while it runs) are waited for, within ctx, so that
// none runs once Stop returned (TestDispatchStopWaitsForTheCallbacksOfTheMessagesItSends,
// TestDispatchStopWaitsForCallbacksWithinItsContext), until another Start or Stop of the
// channel waits for this one (channel.LifecycleContended): it may be such a callback's,
// stopping or restarting the channel, which cannot return before Stop does, so Stop waits
// for no callback from then on (TestDispatchStopFromTheCallbackOfAMessageItSends). A
// callback it stopped waiting for that still runs leaves the sender level stopping
// (channel.StillStopping, or the error once ctx ended), so that the channel's next Stop or
// Start of it calls this Stop again, which waits for that callback on the same terms,
// unless it is made from such a callback: that one waits for none and returns nil
// (TestDispatchLaterStopWaitsForACallbackAnEarlierOneLetGo). Made from such a callback
// means on its goroutine: a Stop the callback hands to another goroutine and waits for
// waits for the callback until its ctx ends, and then returns an error wrapping ctx's
// (TestDispatchStopHandedByACallbackToAGoroutineItWaitsFor). The trade-off: a Stop returns
// without waiting for a callback begun before it to return; its worker sends nothing more
// and ends once it returned, and a later Stop or Start waits for it unless it is then
// still inside the callback. A callback of a message Stop sends that waits for something
// the goroutine calling Stop holds (an application lock) makes Stop, or a later one, wait
// until its ctx ends: give Stop a deadline, or do not hold such a lock around it.
func (d *MessageDispatch) Stop(ctx context.Context, svc channel.Service) error {
	var err error
	if svc&channel.SvcSender != 0 {
		err = d.shutdown(ctx)
	}
	return errors.Join(err, d.Next().Stop(ctx, svc))
}

func (d *MessageDispatch) shutdown(ctx context.Context) error {
	d.mu.Lock()
	r := d.run
	d.run = nil
	idle := d.pending == 0 // nothing queued or in flight: the workers end without sending
	d.cond.Broadcast()
	d.mu.Unlock()
	if r == nil {
		if err := d.awaitLetGo(ctx); err != nil {
			return err
		}
		return d.stopping.await(ctx, "dispatch: stop")
	}
	wait := ctx
	if idle {
		// Nothing can be queued any more (SendMessage refuses once not running) and the
		// workers only wake and return: waited for whatever ctx, so that a Stop with an
		// ended context of an idle dispatcher is no failure
		// (TestDispatchIdleStopWithAnEndedContext).
		wait = context.WithoutCancel(ctx)
	}
	if d.settle(wait, r) {
		r.abort()
		err := d.stopping.await(ctx, "dispatch: stop") // the runs left earlier
		// r's workers still alive are inside an OnComplete call, or return from one to
		// end: the latter are waited for, the former left stopping.
		if r.g.callingUp() {
			d.stopping.leave(r.g)
		} else {
			<-r.g.finished()
		}
		return errors.Join(err, d.awaitLetGo(ctx))
	}
	d.mu.Lock()
	left := d.queue
	d.queue = nil
	r.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
	r.abort()
	cause := fmt.Errorf("%w: stopped before the message was sent: %w", ErrDispatchStopped, context.Cause(ctx))
	d.failLeft(left, cause)
	if err := d.stopping.stop(ctx, "dispatch", r.g); err != nil {
		return err
	}
	return fmt.Errorf("interceptors: dispatch: stop: sends under way cancelled, %d queued messages failed: %w", len(left), ctx.Err())
}

// settle waits, within ctx, until the queue is empty and every worker of r ended or is
// inside an OnComplete call it does not wait for (see callback), and then closes r: its
// workers take nothing more. While every worker left is inside such a call (one may be
// this Stop's caller) with messages still queued, it starts one more to send them. Once
// another Start or Stop of the channel waits for this one, or ctx ended, it waits for no
// OnComplete call (letGo). It reports whether it closed r before ctx ended.
func (d *MessageDispatch) settle(ctx context.Context, r *dispatchRun) bool {
	contended := channel.LifecycleContended(ctx)
	for {
		d.mu.Lock()
		if r.busy == 0 {
			if len(d.queue) == 0 {
				r.closed = true
				d.mu.Unlock()
				return true
			}
			if ctx.Err() == nil {
				r.busy++
				r.g.Go(func() { d.work(r) })
			}
		}
		d.mu.Unlock()
		select {
		case <-r.idle:
		case <-contended:
			// A Start or Stop of the channel waits for this Stop: it may be made by an
			// OnComplete call this Stop waits for, which cannot return before it does.
			contended = nil
			d.mu.Lock()
			r.letGo()
			d.mu.Unlock()
		case <-ctx.Done():
			d.mu.Lock()
			defer d.mu.Unlock()
			if r.busy == 0 && len(d.queue) == 0 { // settled as ctx ended: that counts
				r.closed = true
				return true
			}
			r.letGo()
			return false
		}
	}
}

// work sends queued messages, as a worker of run r, until r is stopped and the queue is
// empty, or r is closed. It takes d.mu once per message without an OnComplete (to account
// for the one sent and take the next) and twice per message with one (to account for it
// and leave busy, then to come back and take the next): BenchmarkDispatch.
func (d *MessageDispatch) work(r *dispatchRun) {
	var gid uint64 // this goroutine's id, read by the first callback that needs it
	d.mu.Lock()
	for {
		for !r.closed && d.run == r && len(d.queue) == 0 {
			d.cond.Wait()
		}
		if r.closed || len(d.queue) == 0 {
			r.leave()
			d.mu.Unlock()
			return
		}
		t := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		d.mu.Unlock()

		ctx, cancel := context.WithCancel(t.ctx)
		stop := context.AfterFunc(r.ctx, cancel)
		err := d.Next().SendMessage(ctx, t.to, t.msg)
		stop()
		cancel()
		if err != nil && r.ctx.Err() != nil {
			err = fmt.Errorf("%w: send cancelled: %w", ErrDispatchStopped, err)
		}
		if err != nil {
			d.failed.Add(1)
		} else {
			d.sent.Add(1)
		}
		d.mu.Lock()
		d.bytes -= t.size
		d.pending--
		if t.done != nil {
			d.callback(r, t.done, err, &gid)
		}
	}
}

// callback calls done(err) on a worker of r, d.mu held on entry and on return but not
// during the call. A call that begins while r's Stop runs (not before it: the caller may
// be that call) is waited for by that Stop: the worker stays busy, counted held, until
// the Stop lets it go (letGo). Any other call, or one let go, has r's group marked as
// inside a call up (as runGroup.callUp does) and the worker out of busy, marked first, so
// that neither a Stop nor a Start waits for it then, and every worker alive and not busy
// when r closes is marked or ends. *gid caches the worker's goroutine id, read by the
// first call that begins while a Stop runs (TestDispatchStopReadsAWorkersGoroutineIDOnce).
func (d *MessageDispatch) callback(r *dispatchRun, done func(error), err error, gid *uint64) {
	held := d.run != r && !r.let
	var id uint64
	if held {
		r.held++
		if *gid == 0 { // read only for a call that begins while a Stop runs, once a worker
			*gid = goroutineID()
		}
		id = *gid
		if len(d.upCalls) == 0 {
			d.upCalls, d.upDone = map[uint64]int{}, make(chan struct{})
		}
		d.upCalls[id]++
	} else {
		r.g.up.Add(1)
		r.leave()
	}
	d.mu.Unlock()
	done(err)
	d.mu.Lock()
	switch {
	case held && !r.let:
		r.held--
	default: // marked from the start, or let go meanwhile
		r.busy++
		r.g.up.Add(-1)
	}
	if held { // after the mark is gone, so that a Stop woken here waits for the worker
		if d.upCalls[id]--; d.upCalls[id] == 0 {
			delete(d.upCalls, id)
		}
		if len(d.upCalls) == 0 {
			close(d.upDone)
			d.upDone = nil
		}
	}
}

// goroutineID is callq.GoroutineID, which reads a stack trace (microseconds, more on a
// deep stack); a variable so that a test counts its reads.
var goroutineID = callq.GoroutineID

// awaitLetGo waits for the OnComplete calls that began while a Stop ran and still run (an
// earlier Stop, or this one, let them go), within ctx and until another Start or Stop of
// the channel waits for this one (channel.LifecycleContended), and then leaves the sender
// level stopping (channel.StillStopping; an error wrapping ctx's once ctx ended), so that
// the channel's next Stop or Start of it waits for them again on the same terms. A Stop
// made from one of those calls waits for none (it cannot return before its own call
// does) and leaves the level stopping.
func (d *MessageDispatch) awaitLetGo(ctx context.Context) error {
	d.mu.Lock()
	done := d.upDone
	d.mu.Unlock()
	if done == nil {
		return nil
	}
	id := goroutineID()
	d.mu.Lock()
	own := d.upCalls[id] > 0
	done = d.upDone
	d.mu.Unlock()
	if done == nil {
		return nil
	}
	if !own {
		select {
		case <-done:
			return nil
		case <-channel.LifecycleContended(ctx):
		case <-ctx.Done():
			select {
			case <-done:
				return nil
			default:
			}
			return fmt.Errorf("interceptors: dispatch: stop: OnComplete calls of the messages a Stop sent still run: %w", ctx.Err())
		}
		select {
		case <-done:
			return nil
		default:
		}
	}
	channel.StillStopping(ctx, channel.SvcSender)
	return nil
}

// failLeft completes with err the messages a Stop whose ctx ended took from the queue.
// Their callbacks run on a goroutine of their own, left stopping and marked as inside a
// call up for its whole life, so that neither this Stop nor a later Stop or Start waits
// for it: Stop runs under the channel's lifecycle, and a callback that stops the channel
// waits for that Stop to return (TestDispatchStopFromTheCallbackOfAMessageItFailed). The
// counters are updated at once.
func (d *MessageDispatch) failLeft(left []*dispatchTask, err error) {
	var done []func(error)
	d.mu.Lock()
	for _, t := range left {
		d.bytes -= t.size
		d.pending--
		if t.done != nil {
			done = append(done, t.done)
		}
	}
	d.mu.Unlock()
	d.failed.Add(uint64(len(left)))
	if len(done) == 0 {
		return
	}
	g := newRunGroup()
	g.up.Add(1)
	g.Go(func() {
		defer g.up.Add(-1)
		for _, f := range done {
			f(err)
		}
	})
	d.stopping.leave(g)
}

// SendMessage queues an OptAsync message and returns; other messages go down synchronously.
func (d *MessageDispatch) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if msg.Options&channel.OptAsync == 0 {
		return d.Next().SendMessage(ctx, to, msg)
	}
	size := int64(len(msg.Data))
	d.mu.Lock()
	if d.run == nil {
		d.mu.Unlock()
		d.rejected.Add(1)
		return ErrDispatchStopped
	}
	if d.bytes+size > d.cfg.MaxQueueSize {
		queued := d.bytes
		d.mu.Unlock()
		if d.cfg.FailWhenFull {
			d.rejected.Add(1)
			return fmt.Errorf("%w: %d bytes queued, %d more do not fit under %d", ErrDispatchQueueFull, queued, size, d.cfg.MaxQueueSize)
		}
		return d.sendNow(ctx, to, msg)
	}
	t := &dispatchTask{
		ctx:  context.WithoutCancel(ctx),
		to:   slices.Clone(to),
		msg:  msg.Clone(),
		size: size,
		done: msg.OnComplete,
	}
	t.msg.OnComplete = nil
	d.bytes += size
	d.pending++
	d.queue = append(d.queue, t)
	d.cond.Signal()
	d.mu.Unlock()
	d.queued.Add(1)
	return nil
}

// sendNow is the alwaysSend fallback: a synchronous send whose success is also reported to
// OnComplete, and so is the success of the copies to the members a failure that names
// only some of them leaves out (the failure is returned, and so not reported twice).
func (d *MessageDispatch) sendNow(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	d.sentSync.Add(1)
	cb := msg.OnComplete
	msg.OnComplete = nil
	err := d.Next().SendMessage(ctx, to, msg)
	msg.OnComplete = cb
	if cb != nil && (err == nil || partial(err, to)) {
		cb(nil)
	}
	return err
}

// Stats returns a snapshot of the counters.
func (d *MessageDispatch) Stats() DispatchStats {
	d.mu.Lock()
	b, p := d.bytes, d.pending
	d.mu.Unlock()
	return DispatchStats{
		Queued: d.queued.Load(), Sent: d.sent.Load(), Failed: d.failed.Load(),
		SentSync: d.sentSync.Load(), Rejected: d.rejected.Load(), QueuedBytes: b, PendingCount: p,
	}
}

func init() {
	Register("dispatch", func(p *Props) (channel.Interceptor, error) {
		cfg := DispatchConfig{
			MaxQueueSize: int64(p.Int("maxQueueSize", DefaultDispatchQueueSize)),
			MaxThreads:   p.Int("maxThreads", DefaultDispatchThreads),
			FailWhenFull: !p.Bool("alwaysSend", true),
		}
		// Accepted for configurations copied from Tomcat; a fixed pool of goroutines needs
		// neither spare threads nor a keep-alive, and messages are always copied.
		p.Int("maxSpareThreads", 0)
		p.Int("keepAliveTime", 0)
		p.Bool("useDeepClone", true)
		return NewMessageDispatch(cfg)
	})
}
