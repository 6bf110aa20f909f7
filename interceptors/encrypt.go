package interceptors

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Defaults of Encrypt, with Tomcat's attribute names.
const (
	// DefaultEncryptionAlgorithm is encryptionAlgorithm's default since Tomcat 10.1.58 /
	// 11.0.25 / 9.0.121 (earlier versions defaulted to AES/CBC/PKCS5Padding; see
	// EncryptionAlgorithmForTomcat).
	DefaultEncryptionAlgorithm = "AES/GCM/NoPadding"
	// DefaultReplayWindowTime is replayWindowTime: how far a message's inner timestamp may
	// be from the receiver's clock.
	DefaultReplayWindowTime = 10 * time.Second
	// DefaultReplayWindowMessageCount is replayWindowMessageCount: how many IVs the
	// receiver remembers.
	DefaultReplayWindowMessageCount = 8192
)

const (
	gcmIVLen  = 12
	gcmTagLen = 16
	blockIV   = aes.BlockSize
	tsLen     = 8
)

// Errors of Encrypt's decoder, reported through EncryptStats and DecryptPayload; a message
// failing any of them is dropped, never delivered.
var (
	// ErrDecrypt: authentication or padding failed (wrong key, tampered or corrupt data).
	ErrDecrypt = errors.New("tribes: encrypt: decryption failed")
	// ErrReplay: the message is outside the replay window or its IV was seen before.
	ErrReplay = errors.New("tribes: encrypt: replayed or stale message")
)

// EncryptConfig configures an Encrypt interceptor.
type EncryptConfig struct {
	// Algorithm is Java's "algorithm/mode/padding" (Tomcat encryptionAlgorithm, default
	// AES/GCM/NoPadding). Accepted: AES/GCM/NoPadding, and, as in Tomcat (which warns about
	// them), AES/CBC/PKCS5Padding, AES/CFB/PKCS5Padding, AES/OFB/PKCS5Padding. Everything
	// Tomcat rejects (ECB, CTR, NoPadding for CBC/CFB/OFB, …) is a configuration error, and
	// so are ciphers other than AES.
	Algorithm string
	// Key is the AES key, 16, 24 or 32 bytes (Tomcat encryptionKey, given in hex there;
	// see KeyFromHex). Required.
	Key []byte
	// Format is the plaintext layout (no Tomcat attribute: Tomcat's version decides it).
	// The default, EncryptFormatTimestamped, is Tomcat 10.1.56+ / 11.0.23+ / 9.0.119+'s,
	// with the replay window. EncryptFormatLegacy talks to older Tomcat and has NO replay
	// protection; the replay settings below are then ignored, and ReplayStateFile is a
	// configuration error. EncryptFormatForTomcat picks it from a Tomcat version.
	Format EncryptFormat
	// ReplayWindowTime (timestamped format only): a message whose inner timestamp differs
	// from the receiver's clock by more than this is dropped (Tomcat replayWindowTime,
	// default 10 s). Clocks must agree.
	ReplayWindowTime time.Duration
	// ReplayWindowMessageCount (timestamped format only) is how many IVs are remembered to
	// detect replays (Tomcat replayWindowMessageCount, default 8192). When more arrive, the
	// oldest are forgotten and messages not newer than them are refused from then on.
	ReplayWindowMessageCount int
	// ReplayStateFile (timestamped format only), if set, carries the replay memory across a
	// restart (no Tomcat equivalent): stopping the receiver writes it there, and starting
	// the receiver reads it and removes the file. Without the file (none configured, the
	// first start, or a crash) the receiver refuses every message stamped before it
	// started instead. One file per node.
	ReplayStateFile string
	// Logger receives problems with ReplayStateFile. Nil discards them.
	Logger *slog.Logger
}

// KeyFromHex decodes a hex key as Tomcat's encryptionKey attribute carries it.
func KeyFromHex(s string) ([]byte, error) {
	var b []byte
	s = strings.TrimSpace(s)
	if len(s)%2 != 0 {
		return nil, configError("encrypt: key %q: odd number of hex digits", s)
	}
	b = make([]byte, len(s)/2)
	for i := range b {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, configError("encrypt: key: not hex")
		}
		b[i] = hi<<4 | lo
	}
	return b, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// EncryptStats are an Encrypt interceptor's counters.
type EncryptStats struct {
	Encrypted      uint64 // messages encrypted
	Decrypted      uint64 // messages decrypted and delivered
	DecryptFailed  uint64 // dropped: wrong key, tampering, bad padding, too short
	ReplayRejected uint64 // dropped: outside the time window, or an IV seen before (never in the legacy format)
	RememberedIVs  int    // IVs in the replay cache now (always 0 in the legacy format)
}

// Encrypt is Tribes' EncryptInterceptor as Tomcat 10.1.60 / 11.0.x writes it: every
// message is encrypted with a pre-shared AES key; the wire payload is IV | ciphertext, the
// plaintext being the int64 message timestamp followed by the message (in the legacy
// format of Tomcat before 10.1.56 / 11.0.23 / 9.0.119, the message alone, and no replay
// check: see EncryptFormatLegacy). With GCM the IV is
// 12 random bytes and the ciphertext carries the 16-byte tag; with CBC/CFB/OFB the IV is 16
// bytes and the plaintext is PKCS#5-padded. Received messages are decrypted and checked
// against a replay window (timestamp within ReplayWindowTime of now, IV never seen, newer
// than the oldest forgotten IV); failures are dropped and counted, never delivered, and,
// as in Java, not reported as a processing error (the sender's ACK succeeds).
//
// # What the replay check covers
//
// With AES/GCM, one receiver delivers a given encrypted message at most once, and only
// within ReplayWindowTime of its inner timestamp: a copy captured on the network and sent
// again to the same node is dropped, during the node's life and, with this port, across
// its restarts (ReplayStateFile keeps the memory over a planned restart; without it, a
// restarted receiver refuses every message stamped before it started).
//
// What it cannot cover, because Java's format carries neither a sender nor a destination
// under the encryption:
//   - Any holder of the key can make messages that pass, with any sender in the envelope:
//     the key authenticates the group, not a member.
//   - A message sent to some members can be replayed to another member that did not receive
//     it, within ReplayWindowTime: each node remembers only what it received.
//   - With AES/CBC, CFB or OFB nothing authenticates the IV and ciphertext: the timestamp can
//     be altered without the key (CBC: through the IV, with a fresh IV), so a capture can be
//     made to look new, and the window holds only against copies replayed unchanged.
//
// For protection against these, use GCM and carry the traffic over a transport that
// authenticates each node (TLS with a certificate per node through a tunnel or service
// mesh, or a VPN): the nio transport has no TLS of its own. docs/interceptors-transforms.md
// has the details.
//
// Like Tomcat, Encrypt must sit above TcpFailureDetector (its probes bypass encryption):
// Start fails otherwise. It interoperates with Java's EncryptInterceptor of Tomcat
// 10.1.56+ / 11.0.23+ / 9.0.119+ (the versions with the inner timestamp) in the default
// format, and with earlier releases in EncryptFormatLegacy.
type Encrypt struct {
	channel.InterceptorBase
	cfg   EncryptConfig
	mode  string // GCM, CBC, CFB, OFB
	block cipher.Block
	gcm   cipher.AEAD
	ivLen int
	hdr   int // bytes before the message in the plaintext: 8 (timestamp) or 0 (legacy)

	looksTimestamped atomic.Bool // the legacy receiver has warned about a timestamp-like message

	replay replayWindow
	log    *slog.Logger

	encrypted, decrypted, failed, replayed atomic.Uint64
}

// NewEncrypt checks cfg and returns an Encrypt interceptor.
func NewEncrypt(cfg EncryptConfig) (*Encrypt, error) {
	if cfg.Algorithm == "" {
		cfg.Algorithm = DefaultEncryptionAlgorithm
	}
	if cfg.ReplayWindowTime == 0 {
		cfg.ReplayWindowTime = DefaultReplayWindowTime
	}
	if cfg.ReplayWindowMessageCount == 0 {
		cfg.ReplayWindowMessageCount = DefaultReplayWindowMessageCount
	}
	if cfg.ReplayWindowTime < 0 || cfg.ReplayWindowMessageCount < 0 {
		return nil, configError("encrypt: the replay window must not be negative")
	}
	switch cfg.Format {
	case EncryptFormatTimestamped:
	case EncryptFormatLegacy:
		if cfg.ReplayStateFile != "" {
			return nil, configError("encrypt: the legacy format has no replay check, so no replay state to keep (ReplayStateFile %q)", cfg.ReplayStateFile)
		}
	default:
		return nil, configError("encrypt: unknown format %v", cfg.Format)
	}
	mode, err := parseAlgorithm(cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	switch len(cfg.Key) {
	case 16, 24, 32:
	case 0:
		return nil, configError("encrypt: an encryption key is required")
	default:
		return nil, configError("encrypt: an AES key has 16, 24 or 32 bytes, not %d", len(cfg.Key))
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	block, err := aes.NewCipher(cfg.Key)
	if err != nil {
		return nil, configError("encrypt: %v", err)
	}
	e := &Encrypt{cfg: cfg, mode: mode, block: block, ivLen: blockIV, hdr: tsLen, log: cfg.Logger}
	if cfg.Format == EncryptFormatLegacy {
		e.hdr = 0
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if mode != "GCM" { // as Tomcat's encryptInterceptor.algorithm.switch
		e.log.Warn("encrypt: the algorithm is accepted but not recommended, as Tomcat warns: switch to AES/GCM/NoPadding",
			"algorithm", cfg.Algorithm)
	}
	if mode == "GCM" {
		if e.gcm, err = cipher.NewGCM(block); err != nil {
			return nil, configError("encrypt: %v", err)
		}
		e.ivLen = gcmIVLen
	}
	e.replay.init(cfg.ReplayWindowTime, cfg.ReplayWindowMessageCount)
	return e, nil
}

// parseAlgorithm accepts what Tomcat accepts, for AES, and returns the mode.
func parseAlgorithm(alg string) (string, error) {
	parts := strings.Split(alg, "/")
	if len(parts) != 3 {
		return "", configError("encrypt: algorithm %q: want algorithm/mode/padding", alg)
	}
	name, mode, pad := strings.ToUpper(parts[0]), strings.ToUpper(parts[1]), strings.ToUpper(parts[2])
	if name != "AES" {
		return "", configError("encrypt: algorithm %q: only AES is supported", alg)
	}
	switch {
	case mode == "GCM" && pad == "NOPADDING":
		return mode, nil
	case (mode == "CBC" || mode == "CFB" || mode == "OFB") && pad == "PKCS5PADDING":
		return mode, nil
	}
	return "", configError("encrypt: algorithm %q: mode %s with %s is not accepted (Tomcat accepts AES/GCM/NoPadding, and CBC, CFB or OFB with PKCS5Padding)", alg, parts[1], parts[2])
}

// Config returns the configuration in use (defaults filled in).
func (e *Encrypt) Config() EncryptConfig { return e.cfg }

// Start refuses a stack with a TCP failure detector above Encrypt, then starts the layers
// below. Starting the receiver restores the replay memory from ReplayStateFile, or, without
// it, starts it afresh, refusing every message stamped before now (timestamped format).
func (e *Encrypt) Start(ctx context.Context, svc channel.Service) error {
	if has[memberChecker](chainAbove(e)) {
		return configError("encrypt: the TCP failure detector must be below (after) the encrypt interceptor, or its probes reach the application unencrypted")
	}
	if svc&channel.SvcReceiver != 0 && e.hdr != 0 {
		e.restoreReplay(time.Now())
	}
	return e.Next().Start(ctx, svc)
}

// Stop stops the layers below; stopping the receiver then saves the replay memory to
// ReplayStateFile.
func (e *Encrypt) Stop(ctx context.Context, svc channel.Service) error {
	err := e.Next().Stop(ctx, svc)
	if svc&channel.SvcReceiver != 0 && e.cfg.ReplayStateFile != "" {
		if serr := e.saveReplay(); serr != nil {
			e.log.Warn("encrypt: replay state not saved; the next start refuses messages stamped before it", "err", serr)
		}
	}
	return err
}

// SendMessage encrypts msg for every destination.
func (e *Encrypt) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	ts := msg.Timestamp
	if ts <= 0 {
		ts = time.Now().UnixMilli()
		msg.Timestamp = ts
	}
	wire, err := e.Seal(ts, msg.Data)
	if err != nil {
		return err
	}
	e.encrypted.Add(1)
	data := msg.Data
	msg.Data = wire
	err = e.Next().SendMessage(ctx, to, msg)
	msg.Data = data
	return err
}

// Seal encrypts one payload as the interceptor sends it: IV | E(int64 ts | data), or, in
// the legacy format, IV | E(data) (ts is then not used).
func (e *Encrypt) Seal(ts int64, data []byte) ([]byte, error) {
	plain := e.hdr + len(data)
	if e.mode == "GCM" {
		out := make([]byte, gcmIVLen+plain, gcmIVLen+plain+gcmTagLen)
		iv := out[:gcmIVLen]
		_, _ = rand.Read(iv)
		if e.hdr != 0 {
			binary.BigEndian.PutUint64(out[gcmIVLen:], uint64(ts))
		}
		copy(out[gcmIVLen+e.hdr:], data)
		return e.gcm.Seal(out[:gcmIVLen], iv, out[gcmIVLen:], nil), nil
	}
	padded := plain + blockIV - plain%blockIV
	out := make([]byte, blockIV+padded)
	iv := out[:blockIV]
	_, _ = rand.Read(iv)
	body := out[blockIV:]
	if e.hdr != 0 {
		binary.BigEndian.PutUint64(body, uint64(ts))
	}
	copy(body[e.hdr:], data)
	for i := plain; i < padded; i++ {
		body[i] = byte(padded - plain)
	}
	switch e.mode {
	case "CBC":
		cipher.NewCBCEncrypter(e.block, iv).CryptBlocks(body, body)
	case "CFB":
		cipher.NewCFBEncrypter(e.block, iv).XORKeyStream(body, body) //nolint:staticcheck // Tomcat's mode
	case "OFB":
		cipher.NewOFB(e.block, iv).XORKeyStream(body, body) //nolint:staticcheck // Tomcat's mode
	}
	return out, nil
}

// Open decrypts one payload and returns the inner timestamp and the message, without the
// replay check (in the legacy format, ts is 0). Errors wrap ErrDecrypt.
func (e *Encrypt) Open(wire []byte) (ts int64, data []byte, err error) {
	if len(wire) < e.ivLen {
		return 0, nil, fmt.Errorf("%w: %d bytes, shorter than the IV", ErrDecrypt, len(wire))
	}
	iv, body := wire[:e.ivLen], wire[e.ivLen:]
	var plain []byte
	if e.mode == "GCM" {
		if len(body) < gcmTagLen {
			return 0, nil, fmt.Errorf("%w: %d bytes, shorter than IV and tag", ErrDecrypt, len(wire))
		}
		plain, err = e.gcm.Open(make([]byte, 0, len(body)-gcmTagLen), iv, body, nil)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
	} else {
		if len(body) == 0 || len(body)%blockIV != 0 {
			return 0, nil, fmt.Errorf("%w: %d ciphertext bytes, not a positive multiple of %d", ErrDecrypt, len(body), blockIV)
		}
		plain = make([]byte, len(body))
		switch e.mode {
		case "CBC":
			cipher.NewCBCDecrypter(e.block, iv).CryptBlocks(plain, body)
		case "CFB":
			cipher.NewCFBDecrypter(e.block, iv).XORKeyStream(plain, body) //nolint:staticcheck // Tomcat's mode
		case "OFB":
			cipher.NewOFB(e.block, iv).XORKeyStream(plain, body) //nolint:staticcheck // Tomcat's mode
		}
		if plain, err = unpad(plain); err != nil {
			return 0, nil, err
		}
	}
	if e.hdr == 0 {
		return 0, plain, nil
	}
	if len(plain) < tsLen {
		return 0, nil, fmt.Errorf("%w: plaintext of %d bytes has no timestamp", ErrDecrypt, len(plain))
	}
	return int64(binary.BigEndian.Uint64(plain)), plain[tsLen:], nil
}

func unpad(b []byte) ([]byte, error) {
	n := int(b[len(b)-1])
	if n < 1 || n > blockIV || n > len(b) {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
		}
	}
	return b[:len(b)-n], nil
}

// MessageReceived decrypts msg and passes it up, or drops it (counted in Stats) if it does
// not decrypt or fails the replay check.
func (e *Encrypt) MessageReceived(msg *channel.Message) error {
	data, err := e.open(msg.Data, time.Now())
	if err != nil {
		return nil // dropped and counted: Tomcat logs it and does not throw
	}
	e.decrypted.Add(1)
	msg.Data = data
	return e.Prev().MessageReceived(msg)
}

// open decrypts and checks the replay window (timestamped format); it counts failures.
func (e *Encrypt) open(wire []byte, now time.Time) ([]byte, error) {
	ts, data, err := e.Open(wire)
	if err != nil {
		e.failed.Add(1)
		return nil, err
	}
	if e.hdr == 0 {
		e.warnIfTimestamped(data, now)
		return data, nil
	}
	if err := e.replay.check(wire[:e.ivLen], ts, now); err != nil {
		e.replayed.Add(1)
		return nil, err
	}
	return data, nil
}

// warnIfTimestamped logs, once, a legacy message whose first 8 bytes read as a timestamp
// within a minute of now: most likely the sender uses the timestamped format, and
// the message is delivered with 8 bytes too many. It is delivered all the same: a legacy
// payload may begin with a timestamp of its own.
func (e *Encrypt) warnIfTimestamped(data []byte, now time.Time) {
	if len(data) < tsLen || e.looksTimestamped.Load() {
		return
	}
	const minute = int64(time.Minute / time.Millisecond)
	d := int64(binary.BigEndian.Uint64(data)) - now.UnixMilli() // wraps only far from now
	if -minute <= d && d <= minute && e.looksTimestamped.CompareAndSwap(false, true) {
		e.log.Warn("encrypt: a message in the legacy format begins with what looks like a current timestamp: if the sender is Tomcat 10.1.56+ / 11.0.23+ / 9.0.119+ or a Go node in the timestamped format, set the timestamped format here (delivered as it is; warned once)")
	}
}

// Stats returns a snapshot of the counters.
func (e *Encrypt) Stats() EncryptStats {
	return EncryptStats{
		Encrypted: e.encrypted.Load(), Decrypted: e.decrypted.Load(),
		DecryptFailed: e.failed.Load(), ReplayRejected: e.replayed.Load(), RememberedIVs: e.replay.len(),
	}
}

func init() {
	Register("encrypt", func(p *Props) (channel.Interceptor, error) {
		key, err := KeyFromHex(p.String("encryptionKey", ""))
		if err != nil {
			return nil, err
		}
		if prov := p.String("providerName", ""); prov != "" {
			return nil, configError("encrypt: providerName %q: JCA providers do not exist in Go", prov)
		}
		format, err := ParseEncryptFormat(p.String("format", "timestamped"))
		if err != nil {
			return nil, err
		}
		return NewEncrypt(EncryptConfig{
			Algorithm:                p.String("encryptionAlgorithm", DefaultEncryptionAlgorithm),
			Key:                      key,
			Format:                   format,
			ReplayWindowTime:         p.Duration("replayWindowTime", DefaultReplayWindowTime),
			ReplayWindowMessageCount: p.Int("replayWindowMessageCount", DefaultReplayWindowMessageCount),
			ReplayStateFile:          p.String("replayStateFile", ""),
			Logger:                   p.Logger(),
		})
	})
}
