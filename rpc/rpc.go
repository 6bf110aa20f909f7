package rpc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ctxwait"
	"github.com/gotribes/tribes/internal/declimits"
	"github.com/gotribes/tribes/jserial"
)

// Mode says how many replies Call waits for. The values are Java's RpcChannel constants.
type Mode int32

const (
	// FirstReply (FIRST_REPLY, 1): the first reply completes the call.
	FirstReply Mode = 1
	// MajorityReply (MAJORITY_REPLY, 2): replies from at least half of the members that
	// have the rpc id complete the call.
	MajorityReply Mode = 2
	// AllReply (ALL_REPLY, 3): every member that has the rpc id must reply.
	AllReply Mode = 3
	// NoReply (NO_REPLY, 4): Call sends and returns without waiting.
	NoReply Mode = 4
)

// String is the mode in a word ("first", "majority", "all", "none"), or Mode(n).
func (m Mode) String() string {
	switch m {
	case FirstReply:
		return "first"
	case MajorityReply:
		return "majority"
	case AllReply:
		return "all"
	case NoReply:
		return "none"
	}
	return fmt.Sprintf("Mode(%d)", int32(m))
}

// Sentinel errors, for errors.Is.
var (
	// ErrInvalidConfig wraps every error of New; it is channel.ErrInvalidConfig.
	ErrInvalidConfig = channel.ErrInvalidConfig
	// ErrDuplicateID: another open rpc.Channel on the same channel has the same id.
	ErrDuplicateID = errors.New("rpc: rpc id already in use on this channel")
	// ErrInvalidMode: Call got a Mode other than the four above.
	ErrInvalidMode = errors.New("rpc: invalid reply mode")
	// ErrTimeout: the context ended before the call got the replies its mode asks for.
	// The error also wraps the context's error (context.DeadlineExceeded or Canceled).
	ErrTimeout = errors.New("rpc: call incomplete when the context ended")
	// ErrClosed: the rpc.Channel was closed (before or during the call).
	ErrClosed = errors.New("rpc: channel closed")
	// ErrMalformed: a received RpcMessage could not be decoded.
	ErrMalformed = errors.New("rpc: malformed RpcMessage")
	// ErrMemberLeft: destinations of a call left the channel (its membership reported
	// them gone) before they replied; the call stopped waiting for them.
	ErrMemberLeft = errors.New("rpc: member left before replying")
	// ErrDeclined, returned or wrapped by a Handler, answers the request with a
	// NoRpcChannelReply, as a node without an rpc.Channel (or Java RpcChannel) of this id
	// answers: the caller stops counting this member, as for one that left, and gets no
	// response from it (TestHandlerDeclines). Neither the error nor a reply goes back to
	// the channel. Java's RpcCallback cannot answer so; a Go node uses it for an id it is
	// giving up, such as a static membership that is stopping.
	ErrDeclined = errors.New("rpc: request declined")
)

// Handler answers requests (Java's RpcCallback.replyRequest).
type Handler interface {
	// Reply returns the reply to msg, a request from sender: any value jserial can
	// marshal, nil for Java's null. With a non-nil error no reply is sent (as when a
	// Java callback throws): the caller waits for its timeout, and the error is returned
	// to the channel as a listener failure.
	//
	// An error wrapping ErrDeclined answers a NoRpcChannelReply instead.
	//
	// Reply runs on the receiving goroutine of sender's connection, as Java's callback
	// runs on the receiver thread: while it runs, later messages on that connection wait.
	Reply(msg any, sender channel.Member) (reply any, err error)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(msg any, sender channel.Member) (any, error)

// Reply calls f.
func (f HandlerFunc) Reply(msg any, sender channel.Member) (any, error) { return f(msg, sender) }

// Response is one reply to a Call (Java's Response).
type Response struct {
	Member  channel.Member // the member that replied
	Message any            // the reply, decoded by jserial (nil for null)
}

// Config configures an rpc.Channel.
type Config struct {
	// Channel carries the messages (required). It may be started before or after New.
	Channel *channel.Channel
	// ID is the rpc id (required, non-empty): requests and replies are matched to this
	// rpc.Channel by comparing it byte for byte (RpcChannel.accept). Tomcat's components
	// derive it from the channel name, e.g. "<channelName>-StaticMembership" in ISO-8859-1.
	ID []byte
	// Handler answers requests from other members (required; RpcCallback.replyRequest).
	Handler Handler
	// LeftOver, if set, gets replies that arrive after their call completed or timed
	// out, or for a call this node does not know (RpcCallback.leftOver), and those a
	// call does not count (a member's second reply; see Call). It runs on the receiving
	// goroutine.
	LeftOver func(msg any, sender channel.Member)
	// ReplyOptions are the send options of replies (replyMessageOptions, default 0: no
	// ACK). OptSyncAck and OptByteMessage are always removed.
	ReplyOptions channel.SendOptions
	// MaxMessageBytes bounds a received RpcMessage, its request or reply included
	// (jserial's MaxBytes; 0 means jserial.DefaultMaxBytes, 64 MiB; Java has no limit).
	// The rpc.Channels of one channel.Channel share the decoding of its messages: the
	// largest of their limits applies. A reply beyond it is lost, as is one the transport
	// refused (transport/nio's MaxFrameSize, 16 MiB by default): raise both for large
	// replies, such as a replicated map's state. Call's error names such a loss.
	MaxMessageBytes int
	// Limits bound the Java deserialization of a received RpcMessage, its request or
	// reply included: nesting depth, handles, array and collection lengths (Java's
	// jdk.serialFilter maxdepth, maxrefs, maxarray). Zero fields take jserial's defaults
	// (jserial.DefaultMaxDepth 1000, DefaultMaxHandles 1<<20 or one per 8 bytes of the
	// message, DefaultMaxArrayLen 1<<24); Tomcat's RpcChannel has no such setting (it
	// reads with ObjectInputStream, bounded only by a JVM-wide serial filter, if any).
	// Limits.MaxBytes is MaxMessageBytes: set either, or both to the same value; New
	// refuses two different ones, and negative limits, with ErrInvalidConfig. As for
	// MaxMessageBytes, the rpc.Channels of one channel.Channel share the decoding of its
	// messages, and each limit is the largest of theirs. A message beyond them is not
	// delivered, with an error wrapping ErrMalformed and jserial.ErrLimit
	// (TestConfigLimits); a reply so lost is named in its call's error, as one beyond
	// MaxMessageBytes.
	Limits jserial.DecoderConfig
	// AcceptNonMembers takes requests and replies of this id from nodes that are not
	// members of the channel, which the channel's sender check otherwise drops
	// (channel.NonMemberListener); for a protocol that lets nodes join, such as the static
	// membership one. Default false.
	//
	// The reply to a non-member's request is sent off the receiving goroutine, at most
	// MaxNonMemberReplies at once; one more cancels the oldest of them
	// (Stats.NonMemberRepliesCancelled): the address a reply goes to is the request's to
	// write, and a send to one that does not answer takes the transport's timeout, which
	// would otherwise hold the receiving goroutine (Java's RpcChannel sends every reply
	// from the receiver thread), and a stranger keeping MaxNonMemberReplies such sends in
	// flight would otherwise have every other non-member's reply dropped. Whether
	// the sender is a member is decided before the Handler runs. Replies to members are
	// sent on the receiving goroutine, as in Java. Without AcceptNonMembers, an
	// rpc.Channel still takes non-members' requests on a channel that takes every
	// sender's messages (channel.Config.AcceptNonMembers): its replies to them go the
	// same bounded way when the channel has a membership service.
	AcceptNonMembers bool
}

// MaxNonMemberReplies is how many replies to non-members an rpc.Channel sends at once
// (Config.AcceptNonMembers); as many more may still be ending after being cancelled.
const MaxNonMemberReplies = 16

// Stats are the counters of an rpc.Channel.
type Stats struct {
	// NonMemberReplies counts the replies to non-members sent off the receiving goroutine
	// (Config.AcceptNonMembers); NonMemberRepliesCancelled those of them cancelled to make
	// room for a newer one when MaxNonMemberReplies were in flight;
	// NonMemberRepliesDropped those not sent because, besides MaxNonMemberReplies in
	// flight, as many cancelled ones had not ended yet (or the rpc.Channel was closed);
	// and NonMemberReplyErrors those whose send failed otherwise.
	NonMemberReplies, NonMemberRepliesCancelled, NonMemberRepliesDropped, NonMemberReplyErrors uint64
}

// Channel is Tribes' RpcChannel: request/reply calls over a channel.Channel, wire
// compatible with org.apache.catalina.tribes.group.RpcChannel. All methods are safe for
// concurrent use.
type Channel struct {
	cfg   Config
	disp  *dispatcher
	life  context.Context // cancelled by Close: ends the sends of calls in progress
	close context.CancelFunc
	once  sync.Once
	// closed is closed once Close's work is done: the replies to non-members in flight
	// ended.
	closed chan struct{}

	mu      sync.Mutex
	pending map[string]*collector // by call uuid

	strangers strangerReplies // replies to non-members in flight (stranger.go)
}

// New registers an rpc.Channel with id cfg.ID on cfg.Channel. Several rpc.Channels with
// different ids may share a channel; Close unregisters.
func New(cfg Config) (*Channel, error) {
	switch {
	case cfg.Channel == nil:
		return nil, fmt.Errorf("%w: rpc.Config.Channel is required", ErrInvalidConfig)
	case len(cfg.ID) == 0:
		return nil, fmt.Errorf("%w: rpc.Config.ID is required", ErrInvalidConfig)
	case cfg.Handler == nil:
		return nil, fmt.Errorf("%w: rpc.Config.Handler is required", ErrInvalidConfig)
	}
	maxBytes, err := declimits.MaxBytes("rpc.Config", cfg.MaxMessageBytes, cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.MaxMessageBytes = maxBytes; cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = jserial.DefaultMaxBytes
	}
	cfg.Limits.MaxBytes = int64(cfg.MaxMessageBytes)
	cfg.ID = append([]byte(nil), cfg.ID...)
	c := &Channel{cfg: cfg, pending: map[string]*collector{}, closed: make(chan struct{})}
	c.life, c.close = context.WithCancel(context.Background())
	if err := register(c); err != nil {
		return nil, err
	}
	return c, nil
}

// ID returns the rpc id.
func (c *Channel) ID() []byte { return append([]byte(nil), c.cfg.ID...) }

// Close unregisters the rpc.Channel (Java's breakdown): requests for its id get a
// NoRpcChannelReply afterwards, and calls in progress return ErrClosed, also one whose
// request is still waiting for a member's ACK. Replies to non-members in flight are
// cancelled, a NoRpcChannelReply sent within a second in place of each one not sent yet
// (its caller then stops waiting: TestCloseDeclinesAReplyItCancelled; not when
// ReplyOptions wait for an ACK, as the reply may have arrived:
// TestCloseDoesNotDeclineAReplyWaitingForItsACK), and Close waits
// for their goroutines until ctx ends: a send that ignores
// its cancellation (a transport blocked in a connect) then makes Close return an error
// wrapping ctx.Err(), the reply left to end in the background. A later Close waits for
// such replies again, within its own ctx, and returns nil once they ended
// (TestCloseHonoursItsContext); the rest is done once.
func (c *Channel) Close(ctx context.Context) error {
	c.once.Do(func() {
		unregister(c)
		c.strangers.close()
		c.close()
		go func() {
			c.strangers.wait()
			close(c.closed)
		}()
	})
	if ctxwait.Done(ctx, c.closed) {
		return nil
	}
	return fmt.Errorf("rpc: close: replies to non-members still in flight: %w", ctx.Err())
}

// Stats returns a snapshot of the counters.
func (c *Channel) Stats() Stats {
	return c.strangers.stats()
}

// Call sends msg to the members in to (every current member when to is empty) as an
// RpcMessage and waits for the replies mode asks for (Java's RpcChannel.send). opts are
// the channel send options of the request; OptSyncAck and OptByteMessage are removed.
//
// The timeout is ctx's: Call returns when the mode is satisfied, when ctx ends, or when
// the rpc.Channel is closed. The responses that arrived are returned in every case, as
// Java returns them without an exception on timeout; err says whether the call is
// complete:
//
//   - nil: the mode is satisfied (NoReply: the request was sent).
//   - wraps ErrTimeout and ctx.Err(): ctx ended first, also while the request was still
//     being sent (the SendError naming the members it did not reach is joined:
//     TestContextEndingDuringSendIsTimeout); responses holds what arrived. If
//     a message from a member that had not replied was lost meanwhile, perhaps its reply,
//     err also wraps why: the transport's channel.ErrMessageTooLarge or
//     ErrConnectionLost (channel.LostMessage), or ErrMalformed when it could not be
//     decoded (with jserial.ErrLimit beyond MaxMessageBytes).
//   - wraps ErrClosed: Close was called first.
//   - wraps ErrMemberLeft: destinations left the channel (its membership reported them
//     gone) after the request went out and before they replied; the call stopped
//     waiting for them, as for a failed send, and returned once the others satisfied
//     the mode (Java waits for its timeout; TestMemberLeavingEndsCall). The error names
//     them; it is joined with any of the others.
//   - a *channel.SendError (channel.FaultyMembers): the request could not be delivered to
//     some members. They no longer count as expected repliers, and Call goes on waiting
//     for the others; err joins the SendError with any of the errors above. A member
//     reported failed that replies all the same (it got the request, its ACK came too
//     late) counts as having replied, not as failed
//     (TestFaultyMemberReplyDoesNotCompleteAllReply).
//   - an error wrapping channel.ErrNoMembers (to empty and no member listed yet: it
//     names channel.Channel.WaitForMembers), or channel.ErrNotStarted (to empty and the
//     channel not started or stopped, as channel.Channel.Send;
//     TestCallToAllBeforeStartSaysNotStarted), ErrInvalidMode, or a marshalling error
//     wrapping jserial.ErrType: nothing was sent.
//
// A member whose node has no rpc.Channel (Go) or RpcChannel (Java) with this id answers
// with a NoRpcChannelReply, which also stops it counting as an expected replier, as
// does leaving the channel. A member that stays but never answers makes AllReply (and
// MajorityReply, when it matters) wait for ctx. A member listed more than once in to
// is sent the request once (to is deduplicated first, keeping the order of first
// occurrence), and each destination counts once, as failed, left, answering
// NoRpcChannelReply or replying (members are the same when channel.Member.Equal, or,
// when one has no unique id, when their host and port are): its first reply is its response, a later one goes to
// Config.LeftOver. A reply from a member that is not a destination is among the
// responses but counts towards no mode (Java counts every reply, whoever sends it); beyond
// len(to) of them, and their NoRpcChannelReplies, go to Config.LeftOver.
func (c *Channel) Call(ctx context.Context, to []channel.Member, msg any, mode Mode, opts channel.SendOptions) ([]Response, error) {
	if mode < FirstReply || mode > NoReply {
		return nil, fmt.Errorf("%w: %d", ErrInvalidMode, int32(mode))
	}
	if c.life.Err() != nil {
		return nil, ErrClosed
	}
	if len(to) == 0 {
		if to = c.cfg.Channel.Members(); len(to) == 0 {
			if c.cfg.Channel.Started()&channel.SvcSender == 0 {
				// As channel.Channel.Send: not the empty group's fault.
				return nil, fmt.Errorf("%w: rpc: the channel's sender level is not running", channel.ErrNotStarted)
			}
			return nil, fmt.Errorf("%w: rpc: the channel lists no member yet (a membership or failure detector may "+
				"need a moment after Start: channel.Channel.WaitForMembers waits for them), or name the members to call",
				channel.ErrNoMembers)
		}
	}
	// A member listed twice gets the request once (TestCallToRepeatedMemberSendsOnce).
	to = distinct(to)
	m := &message{uuid: channel.NewMessageID(), rpcID: c.cfg.ID, payload: msg}
	data, err := m.marshal()
	if err != nil {
		return nil, err
	}
	col := &collector{mode: mode, to: to, done: make(chan struct{})}
	key := string(m.uuid)
	if mode != NoReply {
		c.mu.Lock()
		c.pending[key] = col
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.pending, key)
			c.mu.Unlock()
		}()
	}
	// Close ends a send that waits for an unresponsive member, as it ends the wait for
	// the replies.
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.life, cancel)
	sendErr := c.cfg.Channel.SendMessage(sctx, to, &channel.Message{
		Options: opts &^ (channel.OptSyncAck | channel.OptByteMessage), Data: data})
	stop()
	cancel()
	if sendErr != nil && ctx.Err() == nil && c.life.Err() != nil {
		// Close cut the send short: the call ends with ErrClosed, not the send's
		// cancellation, which is not the caller's.
		if mode == NoReply {
			return nil, ErrClosed
		}
		sendErr = nil
	}
	if sendErr != nil {
		faulty := channel.FaultyMembers(sendErr)
		if len(faulty) == 0 || mode == NoReply {
			return nil, sendErr
		}
		if ended(ctx) {
			// The caller's context cut the send short: the members it gave up on are
			// still expected, so that the call ends with ErrTimeout below.
			faulty = slices.DeleteFunc(slices.Clone(faulty), func(f channel.FaultyMember) bool {
				return errors.Is(f.Err, context.Canceled) || errors.Is(f.Err, context.DeadlineExceeded)
			})
		}
		col.lost(faulty)
	}
	if mode == NoReply {
		return nil, nil
	}
	select {
	case <-col.done:
	case <-ctx.Done():
	case <-c.life.Done():
	}
	var waitErr error
	select {
	case <-col.done: // complete wins over a context that ended at the same time
	default:
		if ctx.Err() != nil {
			waitErr = fmt.Errorf("%w (%v): %w", ErrTimeout, mode, ctx.Err())
		} else {
			waitErr = ErrClosed
		}
	}
	responses, lost, left := col.finish()
	if waitErr == nil {
		lost = nil
	}
	return responses, errors.Join(sendErr, left, waitErr, lost)
}

// ended reports whether ctx is done or its deadline has passed (a transport's socket
// deadline, set from ctx's, can end a send before ctx's own timer has fired).
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// received handles an RpcMessage for this rpc.Channel.
func (c *Channel) received(m *message, from channel.Member) error {
	if m.reply {
		c.mu.Lock()
		col := c.pending[string(m.uuid)]
		c.mu.Unlock()
		if (col == nil || !col.add(m, from)) && !m.noChannel && c.cfg.LeftOver != nil {
			c.cfg.LeftOver(m.payload, from)
		}
		return nil
	}
	// Before the handler, which may make the sender a member (a static membership's START).
	// A non-member's request reaches an rpc.Channel without AcceptNonMembers too when the
	// channel takes every sender's messages (channel.Config.AcceptNonMembers): its reply,
	// to an address the request writes, is sent off the receiving goroutine as well
	// (TestOpenChannelStrangerRepliesOffTheReceiver). A channel without a membership
	// service has no members: its replies go as before.
	stranger := !isMember(c.cfg.Channel, from) &&
		(c.cfg.AcceptNonMembers || c.cfg.Channel.Membership() != nil)
	reply, err := c.cfg.Handler.Reply(m.payload, from)
	var out *message
	declined := &message{noChannel: true, reply: true, uuid: m.uuid, rpcID: m.rpcID}
	switch {
	case errors.Is(err, ErrDeclined):
		out = declined
	case err != nil:
		return fmt.Errorf("rpc %q: handler: %w", c.cfg.ID, err)
	default:
		out = &message{reply: true, uuid: m.uuid, rpcID: m.rpcID, payload: reply}
	}
	if stranger {
		// A reply the rpc.Channel's Close cancels before it left is declined instead,
		// unless it waits for an ACK: then it may have arrived whole, its ACK not yet
		// read, and a NoRpcChannelReply after it would be a second answer, which Java's
		// RpcCollector counts as one destination less on top of the response
		// (TestCloseDoesNotDeclineAReplyWaitingForItsACK).
		late := declined
		if c.cfg.ReplyOptions.WaitsForAck() {
			late = nil
		}
		return c.strangers.reply(c.life, c.disp, from, out, late, c.cfg.ReplyOptions)
	}
	return c.disp.send(context.Background(), from, out, c.cfg.ReplyOptions)
}
