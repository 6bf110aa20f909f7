package interceptors

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Defaults of TwoPhaseCommit.
const (
	// DefaultTwoPhaseExpire is TwoPhaseCommitInterceptor's expire: how long a message
	// waits for its confirmation.
	DefaultTwoPhaseExpire = 60 * time.Second
	// DefaultTwoPhaseMaxSenderBytes caps what one sender's unconfirmed messages hold (no
	// Tomcat equivalent): the largest message Fragmentation reassembles by default.
	DefaultTwoPhaseMaxSenderBytes = DefaultMaxReassembledSize
	// DefaultTwoPhaseMaxHeldBytes caps what all senders' unconfirmed messages hold (no
	// Tomcat equivalent).
	DefaultTwoPhaseMaxHeldBytes = 1 << 30
)

// What a held message and a remembered early confirmation count against the byte caps
// besides a message's payload: their bookkeeping (envelope, map entry).
const twoPhaseEntryCost = 256

// The confirmation markers of Tribes' TwoPhaseCommitInterceptor.
var (
	twoPhaseStart = mustHex("7101c602dec44bb29bf420e3206fd804")
	twoPhaseEnd   = mustHex("36f35a6e2fe14be8afe32434c64d9238")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TwoPhaseCommitConfig configures a TwoPhaseCommit interceptor.
type TwoPhaseCommitConfig struct {
	// Expire: a message whose confirmation has not arrived after Expire is dropped on the
	// next heartbeat (Tomcat expire, default 60 s).
	Expire time.Duration
	// Flag restricts the protocol to messages carrying these option bits (Tomcat
	// optionFlag, default 0 = every message). Both ends must agree.
	Flag channel.SendOptions
	// MaxSenderBytes caps what one sender's unconfirmed messages and early confirmations
	// hold: each counts its payload plus 256 bytes. A message beyond it is refused with an
	// error wrapping ErrHoldLimit (a FAIL_ACK to a synchronized-ack sender), an early
	// confirmation beyond it is not remembered (no Tomcat equivalent: Tribes holds
	// everything; default 256 MiB).
	MaxSenderBytes int64
	// MaxHeldBytes caps the same for all senders together (no Tomcat equivalent; default
	// 1 GiB, or MaxSenderBytes if that is larger).
	MaxHeldBytes int64
	// AcceptNonMembers holds the messages and confirmations of senders that are not
	// members of the channel (neither the local member nor one the chain below this
	// interceptor lists, as the channel's own sender check asks of the whole chain) also
	// where the channel checks senders (InterceptorBase.SendersChecked). By default such
	// a message or confirmation is then refused with an error wrapping
	// channel.ErrNotMember before anything is held, since the channel would drop the
	// message on delivery anyway; a channel with
	// channel.Config.AcceptNonMembers, or without a Membership, has them all held. Set it
	// when a channel.NonMemberListener takes non-members' two-phase messages (no Tomcat
	// equivalent; default false).
	AcceptNonMembers bool
}

// ErrHoldLimit is wrapped by the error for a message TwoPhaseCommit refused to hold because
// its sender's, or all senders', unconfirmed messages reached their cap
// (TwoPhaseCommitConfig.MaxSenderBytes, MaxHeldBytes).
var ErrHoldLimit = errors.New("tribes: twophasecommit: unconfirmed messages over their cap")

// TwoPhaseStats are a TwoPhaseCommit interceptor's counters.
type TwoPhaseStats struct {
	Sent       uint64 // messages sent with a confirmation
	Held       uint64 // received messages held for their confirmation
	Released   uint64 // held messages delivered on confirmation
	Orphans    uint64 // confirmations for no held message (kept Expire long in case it follows)
	Early      uint64 // messages delivered at once because their confirmation came first
	Expired    uint64 // held messages dropped unconfirmed
	HeldNow    int    // messages waiting now
	HeldBytes  int64  // their payload bytes
	Duplicates uint64 // a message id held twice (the later copy replaced the first)
	OverLimit  uint64 // messages refused and early confirmations ignored over MaxSenderBytes or MaxHeldBytes
	NonMember  uint64 // messages and confirmations refused because their sender is not a member
}

// TwoPhaseCommit is Tribes' TwoPhaseCommitInterceptor. On the way down it sends the message
// and then, to the members that got it, a confirmation: a copy with a new random id whose
// payload is START(16) | original id | END(16). On the way up a message is held until its
// confirmation arrives, then delivered; unconfirmed messages are dropped after Expire. The
// bytes are Java's, so it interoperates with Java's TwoPhaseCommitInterceptor. A listener
// error on the held message is reported to the confirmation's sender.
//
// Without a synchronized ACK the confirmation can overtake its message (they may travel on
// different connections). Unlike Java, which then loses the message, this receiver
// remembers such a confirmation for Expire and delivers the message when it arrives. With
// Java receivers, send two-phase messages with OptUseAck|OptSyncAck.
type TwoPhaseCommit struct {
	channel.InterceptorBase
	cfg TwoPhaseCommitConfig

	mu      sync.Mutex
	held    map[twoPhaseKey]*heldMessage
	early   map[twoPhaseKey]time.Time // confirmations that overtook their message
	bytes   int64                     // payload bytes held
	cost    int64                     // what held and early count against MaxHeldBytes
	senders map[channel.MemberKey]int64

	sent, heldN, released, orphans, expired, dups, earlyN, overLimit, nonMember atomic.Uint64
}

type twoPhaseKey struct {
	src channel.MemberKey
	id  string
}

type heldMessage struct {
	msg *channel.Message
	at  time.Time
}

// NewTwoPhaseCommit returns a TwoPhaseCommit interceptor.
func NewTwoPhaseCommit(cfg TwoPhaseCommitConfig) (*TwoPhaseCommit, error) {
	if cfg.Expire == 0 {
		cfg.Expire = DefaultTwoPhaseExpire
	}
	if cfg.MaxSenderBytes == 0 {
		cfg.MaxSenderBytes = DefaultTwoPhaseMaxSenderBytes
	}
	if cfg.MaxHeldBytes == 0 {
		cfg.MaxHeldBytes = max(DefaultTwoPhaseMaxHeldBytes, cfg.MaxSenderBytes)
	}
	if cfg.Expire < 0 || cfg.MaxSenderBytes < 0 || cfg.MaxHeldBytes < 0 {
		return nil, configError("twophasecommit: negative Expire, MaxSenderBytes or MaxHeldBytes")
	}
	t := &TwoPhaseCommit{cfg: cfg, held: map[twoPhaseKey]*heldMessage{}, early: map[twoPhaseKey]time.Time{},
		senders: map[channel.MemberKey]int64{}}
	t.Flag = cfg.Flag
	return t, nil
}

// Config returns the configuration in use (defaults filled in).
func (t *TwoPhaseCommit) Config() TwoPhaseCommitConfig { return t.cfg }

// Confirmation returns the payload confirming the message with this id.
func Confirmation(id []byte) []byte {
	b := make([]byte, 0, len(twoPhaseStart)+len(id)+len(twoPhaseEnd))
	b = append(b, twoPhaseStart...)
	b = append(b, id...)
	return append(b, twoPhaseEnd...)
}

// ParseConfirmation reports whether payload confirms a message, and which, given the id
// length of the confirming message (as Java, which expects both ids to be equally long).
func ParseConfirmation(payload []byte, idLen int) (id []byte, ok bool) {
	n := len(twoPhaseStart)
	if len(payload) != n+idLen+len(twoPhaseEnd) ||
		!bytes.Equal(payload[:n], twoPhaseStart) || !bytes.Equal(payload[n+idLen:], twoPhaseEnd) {
		return nil, false
	}
	return payload[n : n+idLen], true
}

// SendMessage sends msg, then its confirmation to every member that got it. The two share
// one OnComplete, which calls msg's once (see MessageDispatch).
func (t *TwoPhaseCommit) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if !t.OKToProcess(msg.Options) {
		return t.Next().SendMessage(ctx, to, msg)
	}
	done := newCompletion(msg)
	first := msg
	if done != nil {
		c := *msg
		c.OnComplete = done.part(to)
		first = &c
	}
	err := t.Next().SendMessage(ctx, to, first)
	done.settle(to, err)
	bad := failedMembers(err, to)
	ok := without(to, bad)
	if len(ok) == 0 && len(to) > 0 {
		return done.sent(err)
	}
	conf := *msg
	conf.ID = channel.NewMessageID()
	conf.Data = Confirmation(msg.ID)
	conf.OnComplete = done.part(ok)
	t.sent.Add(1)
	cerr := t.Next().SendMessage(ctx, ok, &conf)
	done.settle(ok, cerr)
	if err == nil && cerr == nil {
		return done.sent(nil)
	}
	faulty := channel.AppendFaulty(channel.AppendFaulty(nil, err, to), cerr, ok)
	return done.sent(channel.NewSendError(msg.ID, faulty))
}

// MessageReceived holds messages and delivers them when their confirmation arrives.
func (t *TwoPhaseCommit) MessageReceived(msg *channel.Message) error {
	if !t.OKToProcess(msg.Options) {
		return t.Prev().MessageReceived(msg)
	}
	src := msg.Source.Key()
	id, isConf := ParseConfirmation(msg.Data, len(msg.ID))
	if t.SendersChecked() && !t.cfg.AcceptNonMembers && !fromChannelMember(t, msg.Source) {
		t.nonMember.Add(1)
		return notMemberError("twophasecommit", msg)
	}
	if isConf {
		key := twoPhaseKey{src: src, id: string(id)}
		t.mu.Lock()
		h := t.held[key]
		over := false
		if h != nil {
			delete(t.held, key)
			t.bytes -= int64(len(h.msg.Data))
			t.release(src, int64(len(h.msg.Data))+twoPhaseEntryCost)
		} else if _, dup := t.early[key]; !dup {
			// The message may still come: a sender with several connections and no
			// synchronized ACK can have its confirmation overtake it.
			if over = !t.reserve(src, int64(len(key.id))+twoPhaseEntryCost); !over {
				t.early[key] = time.Now()
			}
		}
		t.mu.Unlock()
		if h == nil {
			t.orphans.Add(1)
			if over {
				t.overLimit.Add(1)
			}
			return nil
		}
		t.released.Add(1)
		return t.Prev().MessageReceived(h.msg)
	}
	key := twoPhaseKey{src: src, id: string(msg.ID)}
	t.mu.Lock()
	if _, confirmed := t.early[key]; confirmed {
		delete(t.early, key)
		t.release(src, int64(len(key.id))+twoPhaseEntryCost)
		t.mu.Unlock()
		t.earlyN.Add(1)
		t.released.Add(1)
		return t.Prev().MessageReceived(msg)
	}
	old := t.held[key]
	if old != nil {
		delete(t.held, key)
		t.bytes -= int64(len(old.msg.Data))
		t.release(src, int64(len(old.msg.Data))+twoPhaseEntryCost)
		t.dups.Add(1)
	}
	if !t.reserve(src, int64(len(msg.Data))+twoPhaseEntryCost) {
		t.mu.Unlock()
		t.overLimit.Add(1)
		return fmt.Errorf("tribes: twophasecommit: message %s from %s: %w (MaxSenderBytes %d, MaxHeldBytes %d)",
			msg.IDString(), msg.Source.Addr(), ErrHoldLimit, t.cfg.MaxSenderBytes, t.cfg.MaxHeldBytes)
	}
	t.held[key] = &heldMessage{msg: msg, at: time.Now()}
	t.bytes += int64(len(msg.Data))
	t.mu.Unlock()
	t.heldN.Add(1)
	return nil
}

// reserve counts n more bytes held for src if both caps allow it. Caller holds t.mu.
func (t *TwoPhaseCommit) reserve(src channel.MemberKey, n int64) bool {
	if t.senders[src]+n > t.cfg.MaxSenderBytes || t.cost+n > t.cfg.MaxHeldBytes {
		return false
	}
	t.senders[src] += n
	t.cost += n
	return true
}

// release counts n bytes of src no longer held. Caller holds t.mu.
func (t *TwoPhaseCommit) release(src channel.MemberKey, n int64) {
	t.cost -= n
	if left := t.senders[src] - n; left > 0 {
		t.senders[src] = left
	} else {
		delete(t.senders, src)
	}
}

// Heartbeat drops held messages older than Expire.
func (t *TwoPhaseCommit) Heartbeat() {
	now := time.Now()
	t.mu.Lock()
	for k, h := range t.held {
		if now.Sub(h.at) > t.cfg.Expire {
			delete(t.held, k)
			t.bytes -= int64(len(h.msg.Data))
			t.release(k.src, int64(len(h.msg.Data))+twoPhaseEntryCost)
			t.expired.Add(1)
		}
	}
	for k, at := range t.early {
		if now.Sub(at) > t.cfg.Expire {
			delete(t.early, k)
			t.release(k.src, int64(len(k.id))+twoPhaseEntryCost)
		}
	}
	t.mu.Unlock()
	t.Next().Heartbeat()
}

// Stats returns a snapshot of the counters.
func (t *TwoPhaseCommit) Stats() TwoPhaseStats {
	t.mu.Lock()
	n, b := len(t.held), t.bytes
	t.mu.Unlock()
	return TwoPhaseStats{
		Sent: t.sent.Load(), Held: t.heldN.Load(), Released: t.released.Load(), Orphans: t.orphans.Load(),
		Expired: t.expired.Load(), HeldNow: n, HeldBytes: b, Duplicates: t.dups.Load(), Early: t.earlyN.Load(),
		OverLimit: t.overLimit.Load(), NonMember: t.nonMember.Load(),
	}
}

func init() {
	Register("twophasecommit", func(p *Props) (channel.Interceptor, error) {
		p.Bool("deepclone", true) // accepted for Tomcat configurations: received messages are owned anyway
		return NewTwoPhaseCommit(TwoPhaseCommitConfig{
			Expire:           p.Duration("expire", DefaultTwoPhaseExpire),
			Flag:             channel.SendOptions(p.Int("optionFlag", 0)),
			MaxSenderBytes:   int64(p.Int("maxSenderBytes", DefaultTwoPhaseMaxSenderBytes)),
			MaxHeldBytes:     int64(p.Int("maxHeldBytes", 0)),
			AcceptNonMembers: p.Bool("acceptNonMembers", false),
		})
	})
}
