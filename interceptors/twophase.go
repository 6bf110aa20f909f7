package interceptors

import (
	"bytes"
	"context"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// DefaultTwoPhaseExpire is TwoPhaseCommitInterceptor's expire: how long a message waits
// for its confirmation.
const DefaultTwoPhaseExpire = 60 * time.Second

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
}

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

	mu    sync.Mutex
	held  map[twoPhaseKey]*heldMessage
	early map[twoPhaseKey]time.Time // confirmations that overtook their message
	bytes int64

	sent, heldN, released, orphans, expired, dups, earlyN atomic.Uint64
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
	if cfg.Expire < 0 {
		return nil, configError("twophasecommit: negative Expire")
	}
	t := &TwoPhaseCommit{cfg: cfg, held: map[twoPhaseKey]*heldMessage{}, early: map[twoPhaseKey]time.Time{}}
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

// SendMessage sends msg, then its confirmation to every member that got it.
func (t *TwoPhaseCommit) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if !t.OKToProcess(msg.Options) {
		return t.Next().SendMessage(ctx, to, msg)
	}
	err := t.Next().SendMessage(ctx, to, msg)
	bad := failedMembers(err, to)
	ok := without(to, bad)
	if len(ok) == 0 && len(to) > 0 {
		return err
	}
	conf := *msg
	conf.ID = channel.NewMessageID()
	conf.Data = Confirmation(msg.ID)
	t.sent.Add(1)
	cerr := t.Next().SendMessage(ctx, ok, &conf)
	if err == nil && cerr == nil {
		return nil
	}
	faulty := channel.AppendFaulty(channel.AppendFaulty(nil, err, to), cerr, ok)
	return channel.NewSendError(msg.ID, faulty)
}

// MessageReceived holds messages and delivers them when their confirmation arrives.
func (t *TwoPhaseCommit) MessageReceived(msg *channel.Message) error {
	if !t.OKToProcess(msg.Options) {
		return t.Prev().MessageReceived(msg)
	}
	src := msg.Source.Key()
	if id, ok := ParseConfirmation(msg.Data, len(msg.ID)); ok {
		key := twoPhaseKey{src: src, id: string(id)}
		t.mu.Lock()
		h := t.held[key]
		if h != nil {
			delete(t.held, key)
			t.bytes -= int64(len(h.msg.Data))
		} else {
			// The message may still come: a sender with several connections and no
			// synchronized ACK can have its confirmation overtake it.
			t.early[key] = time.Now()
		}
		t.mu.Unlock()
		if h == nil {
			t.orphans.Add(1)
			return nil
		}
		t.released.Add(1)
		return t.Prev().MessageReceived(h.msg)
	}
	key := twoPhaseKey{src: src, id: string(msg.ID)}
	t.mu.Lock()
	if _, confirmed := t.early[key]; confirmed {
		delete(t.early, key)
		t.mu.Unlock()
		t.earlyN.Add(1)
		t.released.Add(1)
		return t.Prev().MessageReceived(msg)
	}
	if old := t.held[key]; old != nil {
		t.bytes -= int64(len(old.msg.Data))
		t.dups.Add(1)
	}
	t.held[key] = &heldMessage{msg: msg, at: time.Now()}
	t.bytes += int64(len(msg.Data))
	t.mu.Unlock()
	t.heldN.Add(1)
	return nil
}

// Heartbeat drops held messages older than Expire.
func (t *TwoPhaseCommit) Heartbeat() {
	now := time.Now()
	t.mu.Lock()
	for k, h := range t.held {
		if now.Sub(h.at) > t.cfg.Expire {
			delete(t.held, k)
			t.bytes -= int64(len(h.msg.Data))
			t.expired.Add(1)
		}
	}
	for k, at := range t.early {
		if now.Sub(at) > t.cfg.Expire {
			delete(t.early, k)
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
	}
}

func init() {
	Register("twophasecommit", func(p *Props) (channel.Interceptor, error) {
		p.Bool("deepclone", true) // accepted for Tomcat configurations: received messages are owned anyway
		return NewTwoPhaseCommit(TwoPhaseCommitConfig{
			Expire: p.Duration("expire", DefaultTwoPhaseExpire),
			Flag:   channel.SendOptions(p.Int("optionFlag", 0)),
		})
	})
}
