package delta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ctxwait"
	"github.com/gotribes/tribes/internal/ratelog"
)

// Channel is what the package needs of a group channel. *channel.Channel implements it;
// tests may substitute their own.
type Channel interface {
	// Send sends data to the members in to (all members when empty) with opts.
	Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error
	// Members returns the current members, oldest first.
	Members() []channel.Member
	// Member returns the current member with key, if there is one.
	Member(key channel.MemberKey) (channel.Member, bool)
	AddMessageListener(l channel.MessageListener) (remove func())
	AddMembershipListener(l channel.MembershipListener) (remove func())
}

// ClusterConfig configures a Cluster. Channel is required; every other field's zero
// value takes the default its doc names. NewCluster refuses a value a field does not
// take with an error wrapping ErrInvalidConfig (TestNewClusterRefusesInvalidConfig).
type ClusterConfig struct {
	// Channel is the group channel the cluster listens on and sends through (Tomcat's
	// SimpleTcpCluster owns its channel): a *channel.Channel (channel.New, node.New),
	// started before the managers start; tests may pass their own Channel. Required: nil,
	// or a nil pointer, is refused.
	Channel Channel
	// Codec encodes session messages. Nil means BinaryCodec{}; JavaCodec{} speaks
	// Tomcat's format (with JavaValueCodec in each Config). Every node of the cluster must
	// use the same codec. A nil pointer is refused, and so is a BinaryCodec or JavaCodec
	// (or a pointer to one) with a negative limit, its Limits' included (one of
	// jserial.DecoderConfig's would make every message malformed).
	Codec MessageCodec
	// Logger receives warnings (unknown contexts, malformed messages). Nil discards them
	// (where Tomcat logs to catalina.out); ClusterStats counts those messages. A Logger
	// without a handler (new(slog.Logger), which would panic on its first warning) is
	// refused; slog.New gives one.
	Logger *slog.Logger
	// UnlistedRequestWait is how long, with JavaCodec, a session message from a sender
	// that is not a member is held in case the membership lists that sender soon: a
	// Tomcat node may list this node before this node lists it, and it sends each
	// message once: a joiner asks once, asynchronously, for every session and waits 60 s
	// (stateTransferTimeout) without asking again, a member whose send of a change
	// failed logs it and goes on. Once the sender is listed within the wait, its held
	// messages are handled in the order they came, as from the membership's record of
	// it (its requests for every session: the latest per application); all of a sender
	// not listed by then are dropped, never decoded, with a warning (rate-limited)
	// naming the sender and this setting. A synchronized-ack message held gets its ACK
	// once applied, FAIL_ACK once dropped; meanwhile it keeps one of the transport's
	// receive workers, at most 4 of them at once. At most 64 messages per sender and 256
	// in all are held, each of at most 64 KiB and 1 MiB in all (ClusterStats.UnlistedHeld),
	// the senders sharing the hold when it is full: a message evicts the oldest of the
	// sender holding the most, if it holds more. With BinaryCodec nothing is held: Go
	// joiners ask again while Config.MemberWait lasts, and catch up after. 0 means
	// DefaultUnlistedRequestWait (10 s); negative holds nothing, every such message
	// counted in ClusterStats.RefusedNonMember (TestNegativeUnlistedRequestWaitHoldsNothing).
	// No Tomcat equivalent (Tomcat applies any sender's message). Every value is valid.
	UnlistedRequestWait time.Duration
}

// Cluster connects session managers to one channel (Tomcat's SimpleTcpCluster with its
// ClusterSessionListener): it decodes session messages, hands each to the manager of its
// context, answers state-transfer requests for contexts it has no manager for, and tells
// managers about members leaving. Create one per channel, then one Manager per
// application with NewManager.
type Cluster struct {
	ch    Channel
	codec MessageCodec
	log   *slog.Logger

	mu       sync.RWMutex
	managers map[string]*Manager
	// unstarted counts the managers of each name that NewManager made and that were
	// neither started nor stopped yet: a request for the sessions of such a context is
	// answered as by a manager still starting (idNotReady), not as by a node without one,
	// for notStartedFor after the last was made (startingManager).
	unstarted map[string]unstartedManagers
	// notStartedFor, if not 0, replaces defaultNotStartedFor (the tests).
	notStartedFor time.Duration
	// finishing are the managers that left the cluster on their Stop and still stop in
	// the background (their Stop's ctx ended first): Close waits for them too.
	finishing map[*Manager]struct{}
	warned    map[string]bool // contexts already warned about (bounded)
	closed    bool
	closing   chan struct{}  // closed once Close has finished, in the background if its ctx ended
	wg        sync.WaitGroup // reply goroutines

	removeMsg, removeMbr func()
	refusals             *ratelog.Limiter // refused senders and requests, logged rate-limited

	names batchNames // strings received batches repeat (decodeBatch)
	// listeners counts the managers NewManager made with listeners that are not
	// stopped: theirs may take any time between a batch's messages, so each delta then
	// reads the clock (receiveListed). Stop takes its manager's off, so the last one's
	// turns the switch off (TestListenerClockOffOnceTheirManagersStop); a manager made
	// and dropped, never stopped, keeps it on (a clock read per delta).
	listeners atomic.Int32

	messages, malformed, unknownContext, noContextReplies, nonMember atomic.Uint64
	noContextSlots                                                   chan struct{} // the answers on their way (replyNoContext)

	unlisted                          unlisted // non-members' messages held (unlisted.go)
	unlistedWait                      time.Duration
	unlistedAnswered, unlistedDropped atomic.Uint64
	unlistedApplied                   atomic.Uint64

	cuts     cuts                   // partial partitions (cut.go)
	lastGone atomic.Pointer[string] // the address of the member that left last (Manager.noteView)

	self atomic.Pointer[uint32] // origin(), once known
}

// ClusterStats are a cluster's counters since it was created.
type ClusterStats struct {
	Messages         uint64 // session messages received (well formed)
	Malformed        uint64 // messages with the codec's header that failed to decode: ignored (past the codec's limits: FAIL_ACK)
	UnknownContext   uint64 // messages for a context with no running manager: ignored
	NoContextReplies uint64 // EVT_ALL_SESSION_NOCONTEXTMANAGER answers sent for them
	// RefusedNonMember counts session messages from a sender that is not a current member
	// of the channel that were ignored, neither applied nor answered; with JavaCodec, a
	// message held for its sender instead (ClusterConfig.UnlistedRequestWait) is not
	// counted here but in UnlistedHeld, then UnlistedAnswered, UnlistedApplied or
	// UnlistedDropped.
	RefusedNonMember uint64
	// PartialCuts counts the times this node stopped serving because a member it is cut
	// off from, with a lower unique id, was still reached by another member (a partition
	// of some links only; Config.ClusterSize with BinaryCodec). ProbesRequested counts
	// the probe requests it sent for the members that left its view.
	PartialCuts, ProbesRequested uint64
	// UnlistedHeld is how many session messages of senders that are not members are
	// held (ClusterConfig.UnlistedRequestWait), UnlistedHeldBytes their size;
	// UnlistedAnswered counts the held requests for every session answered once their
	// sender was listed, UnlistedApplied the other held messages (changes, expiries,
	// renames) applied then, UnlistedDropped the messages not held (past the bounds), a
	// request for every session a later one of the same sender replaced, a held message
	// that failed to decode, or one whose wait ended first.
	UnlistedHeld, UnlistedHeldBytes   int
	UnlistedAnswered, UnlistedApplied uint64
	UnlistedDropped                   uint64
	// Probing is how many members that just left this node's view are being probed for
	// the first time: meanwhile its managers with a quorum acknowledge no change and
	// serve no session (ErrNoQuorum), for at most about two seconds.
	Probing int
}

const maxWarned = 1024

// NewCluster registers a cluster's listeners on cfg.Channel. Close removes them. A
// config a field does not take (no Channel among them) is an error wrapping
// ErrInvalidConfig that names the field, and registers nothing.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ch := cfg.Channel
	c := &Cluster{ch: ch, codec: cfg.Codec, log: cfg.Logger, managers: map[string]*Manager{},
		unstarted: map[string]unstartedManagers{},
		warned:    map[string]bool{}}
	if c.codec == nil {
		c.codec = BinaryCodec{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.unlistedWait = cfg.UnlistedRequestWait
	if c.unlistedWait == 0 {
		c.unlistedWait = DefaultUnlistedRequestWait
	}
	c.refusals = ratelog.New(ratelog.Config{Logger: c.log, First: 1})
	c.cuts.probing = make(chan struct{}, maxProbing)
	c.cuts.logs = ratelog.New(ratelog.Config{Logger: c.log})
	c.noContextSlots = make(chan struct{}, MaxNoContextReplies)
	c.removeMsg = ch.AddMessageListener(clusterListener{c})
	c.removeMbr = ch.AddMembershipListener(channel.MembershipFuncs{Added: c.memberAdded, Disappeared: c.memberGone})
	return c, nil
}

// NewManager creates a manager for one application. It does nothing until Start. A bad cfg
// is an error wrapping ErrInvalidConfig, and so is GobCodec (Config.Codec's default) in a
// cluster whose codec is JavaCodec, which writes values as Java serialization streams:
// set Config.Codec to JavaValueCodec there (TestJavaCodecNeedsJavaValues). A
// JavaValueCodec's zero Limits fields take the cluster codec's (JavaCodec's or
// BinaryCodec's Limits: TestJavaValueCodecTakesTheClustersLimits).
func (c *Cluster) NewManager(cfg Config) (*Manager, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if _, java := c.codec.(objectCodec); java {
		switch cfg.Codec.(type) {
		case GobCodec, *GobCodec:
			return nil, fmt.Errorf("%w: the cluster's JavaCodec sends values as Java serialization streams, "+
				"which GobCodec (Config.Codec's default) does not write: set Config.Codec to delta.JavaValueCodec{}",
				ErrInvalidConfig)
		}
	}
	cfg.Codec = c.valueLimits(cfg.Codec)
	if cfg.hasListeners() {
		c.listeners.Add(1)
	}
	m := newManager(c, cfg)
	c.mu.Lock()
	if c.unstarted == nil { // a Cluster not made by NewCluster (the package's tests)
		c.unstarted = map[string]unstartedManagers{}
	}
	u := c.unstarted[cfg.Name]
	u.n++
	u.made = time.Now()
	c.unstarted[cfg.Name] = u
	c.mu.Unlock()
	return m, nil
}

// hasListeners reports whether cfg sets listeners of the manager's sessions.
func (cfg *Config) hasListeners() bool {
	return len(cfg.SessionListeners) > 0 || len(cfg.AttributeListeners) > 0 || len(cfg.NamedListeners) > 0 ||
		cfg.NamedListener != nil
}

// unstartedManagers are the managers of a name NewManager made and that were neither
// started nor stopped: how many, and when the last was made.
type unstartedManagers struct {
	n    int
	made time.Time
}

// defaultNotStartedFor is how long after NewManager made a manager that is neither
// started nor stopped the cluster answers for its context as for a manager starting. A
// manager made and dropped, or refused by Start as another's duplicate, is never
// started: past it, a member asking for the context's sessions hears again that there is
// no manager, and warns (TestNeverStartedManagerStopsAnsweringStarting).
const defaultNotStartedFor = time.Minute

// started forgets that a manager named name is not started yet (its Start registered
// it, or it was stopped before it started); c.mu is held.
func (c *Cluster) started(name string) {
	u := c.unstarted[name]
	if u.n <= 1 {
		delete(c.unstarted, name)
		return
	}
	u.n--
	c.unstarted[name] = u
}

// startingManager reports whether a manager named name was made and not started yet,
// the last of them less than defaultNotStartedFor ago.
func (c *Cluster) startingManager(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	u, grace := c.unstarted[name], c.notStartedFor
	if grace == 0 {
		grace = defaultNotStartedFor
	}
	return u.n > 0 && time.Since(u.made) < grace
}

// Manager returns the running manager named name, or nil.
func (c *Cluster) Manager(name string) *Manager {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.managers[name]
}

// Close stops every running manager and removes the cluster's listeners from the channel.
// It drops the messages held for senders not listed yet, and waits for the goroutines
// applying those of a sender just listed, which apply none once it closed
// (TestCloseStopsTheDrainOfHeldMessages).
// Each of its waits (the managers' Stop, the cluster's own goroutines) is bounded by ctx:
// when ctx ends first, Close returns an error wrapping ctx.Err() and the rest finishes in
// the background; a later Close waits for that, or for its own ctx, and closes nothing
// again (TestClusterCloseHonoursItsContext). It waits, within ctx, for the managers whose
// own Stop returned first and that still stop in the background too
// (TestClusterCloseWaitsForAManagerStoppingInTheBackground), but for none whose Stop
// called it from a session listener (TestClusterCloseFromAStoppingListenerReturns). A
// Close called from a session listener that Close itself calls (with the event's
// Context) returns ErrStopping at once: the Close that runs waits for it
// (TestClusterCloseFromItsOwnListenerReturns). So does a Close called, while one runs,
// from a session or attribute listener that the goroutine applying a sender's held
// messages calls (with the event's Context, marked as that goroutine's); a first Close
// called so closes the cluster without waiting for that goroutine, which applies no more
// of them once the listener returned, and returns nil, as one from a manager's Stop
// listener does; a later Close waits for it (TestCloseFromAHeldMessagesListenerReturns).
// Called there with another context, Close waits for that goroutine, and so until the
// context ends (TestCloseFromAHeldMessagesListenerWithItsOwnContext). Likewise for a
// listener of a manager's own goroutines (the expiry sweep, the state transfer's
// replay), whose Stop waits for them: with the event's Context, Close closes the cluster
// without waiting for that manager's stop and returns nil, or returns ErrStopping at once
// while another Close runs (TestCloseFromASweepListenerReturns,
// TestCloseFromASweepListenerWhileClosing).
func (c *Cluster) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		closing := c.closing
		c.mu.Unlock()
		if ctx.Value(closeMark{c}) != nil || c.callingDrain(ctx) != nil || c.callingWorker(ctx) != nil {
			return ErrStopping // from a listener of what the Close that runs waits for
		}
		select {
		case <-closing:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.closed = true
	c.closing = make(chan struct{})
	var ms []*Manager
	for _, m := range c.managers {
		ms = append(ms, m)
	}
	waits := slices.Clone(ms)
	for m := range c.finishing {
		if ctx.Value(stopMark{m}) == nil { // not from a listener of m's Stop, which waits for it
			waits = append(waits, m)
		}
	}
	c.mu.Unlock()
	// The drain, or the manager whose goroutine, whose listener calls Close, if one
	// does: Close does not wait for it, which waits for the listener.
	self, selfM := c.callingDrain(ctx), c.callingWorker(ctx)
	var err error
	sctx := context.WithValue(ctx, closeMark{c}, true) // the listeners' (SessionEvent.Context)
	for _, m := range ms {
		e := m.Stop(sctx)
		if m == selfM && errors.Is(e, ErrStopping) {
			continue // it stops once the listener returned
		}
		if e != nil && err == nil {
			err = e
		}
	}
	c.removeMsg()
	c.removeMbr()
	drains := c.closeUnlisted()
	c.stopCuts()
	others := make(chan struct{}) // closed once all but self is done
	go func() {
		defer close(c.closing)
		for _, m := range waits {
			if m != selfM {
				<-m.stopped // those whose Stop returned ctx's error finish in the background
			}
		}
		c.wg.Wait()
		for _, d := range drains { // none handles a message after closeUnlisted
			if d != self {
				<-d.done
			}
		}
		close(others)
		if self != nil {
			<-self.done // once its listener returned
		}
		if selfM != nil {
			<-selfM.stopped // likewise
		}
		c.refusals.Flush()
		c.cuts.logs.Flush()
	}()
	wait := c.closing
	if self != nil || selfM != nil {
		wait = others
	}
	if !ctxwait.Done(ctx, wait) && err == nil {
		err = fmt.Errorf("delta: cluster still closing in the background: %w", ctx.Err())
	}
	return err
}

// closeMark is the key of the value that marks the context Close gives its managers'
// Stop, and so their listeners, as the cluster's Close's.
type closeMark struct{ c *Cluster }

// Stats returns the cluster's counters.
func (c *Cluster) Stats() ClusterStats {
	c.cuts.mu.Lock()
	probing := len(c.cuts.pending)
	c.cuts.mu.Unlock()
	held, heldBytes := c.heldUnlisted()
	return ClusterStats{Probing: probing, UnlistedHeld: held, UnlistedHeldBytes: heldBytes,
		UnlistedAnswered: c.unlistedAnswered.Load(), UnlistedApplied: c.unlistedApplied.Load(), UnlistedDropped: c.unlistedDropped.Load(), Messages: c.messages.Load(), Malformed: c.malformed.Load(),
		UnknownContext: c.unknownContext.Load(), NoContextReplies: c.noContextReplies.Load(),
		RefusedNonMember: c.nonMember.Load(), PartialCuts: c.cuts.stepDowns.Load(), ProbesRequested: c.cuts.probes.Load()}
}

func (c *Cluster) register(m *Manager) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("%w: the cluster is closed", ErrStopped)
	}
	if c.managers[m.cfg.Name] != nil {
		return fmt.Errorf("%w: %q", ErrDuplicateManager, m.cfg.Name)
	}
	c.managers[m.cfg.Name] = m
	c.started(m.cfg.Name)
	return nil
}

func (c *Cluster) unregister(m *Manager) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.managers[m.cfg.Name] == m {
		delete(c.managers, m.cfg.Name)
	}
}

// finishingStop records m, which has left the cluster (unregister), as still stopping
// until done is called, so that Close waits for it
// (TestClusterCloseWaitsForAManagerStoppingInTheBackground).
func (c *Cluster) finishingStop(m *Manager) (done func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finishing == nil {
		c.finishing = map[*Manager]struct{}{}
	}
	c.finishing[m] = struct{}{}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.finishing, m)
	}
}

// goTracked runs f on a goroutine Close waits for, unless the cluster is closed; it
// reports whether it did.
func (c *Cluster) goTracked(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

func (c *Cluster) memberGone(mem channel.Member) {
	c.lastGone.Store(new(mem.Addr())) // before the probes, which may tell the managers first
	c.cutMemberGone(mem)
	for _, m := range c.running() {
		m.memberGone(mem)
	}
}

func (c *Cluster) memberAdded(mem channel.Member) {
	c.cutMemberAdded(mem)
	for _, m := range c.running() {
		m.memberAdded(mem)
	}
	c.answerHeld(mem)
}

// running returns the registered managers.
func (c *Cluster) running() []*Manager {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ms := make([]*Manager, 0, len(c.managers))
	for _, m := range c.managers {
		ms = append(ms, m)
	}
	return ms
}

// origin returns the origin part of the stamps of changes made on this node (stamp.go):
// originOf the channel's local member, as the other nodes see it in the messages from
// here. A channel that does not tell its local member gives 0; concurrent changes made
// there may then end different on different nodes, as in arrival order (its transfers
// say which of its changes were refused before any send: transfer_unsent.go).
func (c *Cluster) origin() uint32 {
	if p := c.self.Load(); p != nil {
		return *p
	}
	lm, ok := c.ch.(interface{ LocalMember() channel.Member })
	if !ok {
		return 0
	}
	o := originOf(lm.LocalMember())
	if o != 0 {
		c.self.Store(&o)
	}
	return o
}
