package interceptors

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newEncrypt(t testing.TB, cfg EncryptConfig) *Encrypt {
	t.Helper()
	if cfg.Key == nil {
		cfg.Key = testKey
	}
	e, err := NewEncrypt(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var encryptModes = []string{"AES/GCM/NoPadding", "AES/CBC/PKCS5Padding", "AES/CFB/PKCS5Padding", "AES/OFB/PKCS5Padding"}

// Every accepted mode round-trips, and the wire lengths are Tomcat's: GCM "hello" is
// 12 + 8 + 5 + 16 = 41 bytes, CBC 16 + pad16(8 + 5) = 32.
func TestEncryptRoundTrip(t *testing.T) {
	for _, alg := range encryptModes {
		t.Run(alg, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			ea, eb := newEncrypt(t, EncryptConfig{Algorithm: alg}), newEncrypt(t, EncryptConfig{Algorithm: alg})
			a, b := newNode(t, nw, ea), newNode(t, nw, eb)
			startNodes(t, a, b)
			for i, size := range []int{0, 5, 7, 8, 15, 16, 1000, 1 << 20} {
				data := sessionPayload(size, uint64(i))
				a.send(t, b, data, channel.OptUseAck)
				if got := b.messages()[i].Data; !bytes.Equal(got, data) {
					t.Fatalf("size %d: content differs", size)
				}
				w := a.tap.sent()[i].Data
				want := 12 + 8 + size + 16
				if alg != "AES/GCM/NoPadding" {
					want = 16 + (8+size)/16*16 + 16
				}
				if len(w) != want {
					t.Fatalf("size %d: %d bytes on the wire, want %d", size, len(w), want)
				}
				if size >= 8 && bytes.Contains(w, data) {
					t.Fatal("plaintext on the wire")
				}
			}
			if s := eb.Stats(); s.Decrypted != 8 || s.DecryptFailed != 0 || s.ReplayRejected != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// The plaintext is int64 timestamp | message, as Tomcat 10.1.56+ writes it: decrypt a GCM
// payload by hand.
func TestEncryptLayout(t *testing.T) {
	e := newEncrypt(t, EncryptConfig{})
	w, err := e.Seal(0x0102030405060708, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(testKey)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, w[:12], w[12:], nil)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint64(plain) != 0x0102030405060708 || string(plain[8:]) != "hello" {
		t.Fatalf("plaintext %x", plain)
	}
	cbc := newEncrypt(t, EncryptConfig{Algorithm: "AES/CBC/PKCS5Padding"})
	w, _ = cbc.Seal(7, []byte("hello"))
	body := make([]byte, len(w)-16)
	cipher.NewCBCDecrypter(block, w[:16]).CryptBlocks(body, w[16:])
	if binary.BigEndian.Uint64(body) != 7 || string(body[8:13]) != "hello" || !bytes.Equal(body[13:], []byte{3, 3, 3}) {
		t.Fatalf("CBC plaintext %x", body)
	}
}

// A wrong key drops the message and counts it; the sender's ACK still succeeds (Tomcat
// logs and does not throw); nothing panics.
func TestEncryptWrongKey(t *testing.T) {
	for _, alg := range encryptModes {
		t.Run(alg, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			eb := newEncrypt(t, EncryptConfig{Algorithm: alg, Key: []byte("fedcba9876543210")})
			a, b := newNode(t, nw, newEncrypt(t, EncryptConfig{Algorithm: alg})), newNode(t, nw, eb)
			startNodes(t, a, b)
			for range 20 {
				a.send(t, b, []byte("secret message"), channel.OptUseAck|channel.OptSyncAck)
			}
			if len(b.messages()) != 0 {
				t.Fatal("delivered with the wrong key")
			}
			// CBC/CFB/OFB are not authenticated: a wrong key can pass the padding check by
			// chance (then the garbage timestamp fails the replay window); either way the
			// message is dropped.
			if s := eb.Stats(); s.DecryptFailed+s.ReplayRejected != 20 || s.Decrypted != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// A replayed message (same IV) is dropped; so are stale and future ones.
func TestEncryptReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		eb := newEncrypt(t, EncryptConfig{})
		a, b := newNode(t, nw, newEncrypt(t, EncryptConfig{})), newNode(t, nw, eb)
		startNodes(t, a, b)
		a.send(t, b, []byte("pay 100"), channel.OptUseAck)
		captured := a.tap.sent()[0]
		if err := b.tap.inject(captured.Clone()); err != nil {
			t.Fatal(err)
		}
		if n := len(b.messages()); n != 1 {
			t.Fatalf("replay delivered: %d messages", n)
		}
		if s := eb.Stats(); s.ReplayRejected != 1 {
			t.Fatalf("stats %+v", s)
		}

		// 10 s after B started, a message stamped 9 s ago is in the window.
		time.Sleep(10 * time.Second)
		ea := newEncrypt(t, EncryptConfig{})
		now := time.Now().UnixMilli()
		for _, ts := range []int64{now - 10_001, now + 10_001} {
			w, _ := ea.Seal(ts, []byte("off-window"))
			b.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: a.member(), Data: w})
		}
		w, _ := ea.Seal(now-9_000, []byte("in window"))
		b.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: a.member(), Data: w})
		if got := b.payloads(); len(got) != 2 || string(got[1]) != "in window" {
			t.Fatalf("delivered %q", got)
		}
		// A capture replayed after the window has passed fails on the timestamp.
		time.Sleep(11 * time.Second)
		a.send(t, b, []byte("fresh"), channel.OptUseAck)
		b.tap.inject(captured.Clone())
		if got := b.payloads(); len(got) != 3 || string(got[2]) != "fresh" {
			t.Fatalf("delivered %q", got)
		}
		if s := eb.Stats(); s.ReplayRejected != 4 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// Beyond replayWindowMessageCount the eldest IVs are forgotten, and messages not newer
// than them are refused from then on (Tomcat's rule).
func TestEncryptReplayCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEncrypt(t, EncryptConfig{ReplayWindowMessageCount: 3})
		now := time.Now()
		base := now.UnixMilli()
		open := func(ts int64) error {
			w, _ := e.Seal(ts, []byte("m"))
			_, err := e.open(w, now)
			return err
		}
		for i := range 4 { // 4 > 3: the one at base+0 is forgotten
			if err := open(base + int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := open(base); !errors.Is(err, ErrReplay) {
			t.Fatalf("a message as old as the forgotten one: %v", err)
		}
		if err := open(base + 1); err != nil {
			t.Fatalf("newer than the forgotten one: %v", err)
		}
		if s := e.Stats(); s.RememberedIVs != 3 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// Tampering is detected by GCM; junk of any length is an error, never a panic.
func TestEncryptCorrupt(t *testing.T) {
	for _, alg := range encryptModes {
		e := newEncrypt(t, EncryptConfig{Algorithm: alg})
		w, _ := e.Seal(time.Now().UnixMilli(), []byte("hello world, this is a test"))
		if alg == "AES/GCM/NoPadding" {
			w[len(w)-20] ^= 1
			if _, _, err := e.Open(w); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("%s: tampered: %v", alg, err)
			}
		}
		for n := range 70 {
			if _, _, err := e.Open(make([]byte, n)); err == nil && alg == "AES/GCM/NoPadding" {
				t.Fatalf("%s: %d zero bytes opened", alg, n)
			}
		}
	}
}

func TestEncryptConfig(t *testing.T) {
	rejected := []string{"AES/ECB/PKCS5Padding", "AES/CBC/NoPadding", "AES/CFB/NoPadding", "AES/OFB/NoPadding",
		"AES/GCM/PKCS5Padding", "AES/CTR/NoPadding", "AES/CTS/NoPadding", "AES/PCBC/PKCS5Padding", "AES/KW/NoPadding",
		"AES/KWP/NoPadding", "AES/NONE/NoPadding", "AES/CFB8/PKCS5Padding", "AES/OFB32/PKCS5Padding", "DESede/CBC/PKCS5Padding",
		"AES", "AES/GCM"}
	for _, alg := range rejected {
		if _, err := NewEncrypt(EncryptConfig{Algorithm: alg, Key: testKey}); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", alg, err)
		}
	}
	for _, alg := range append(encryptModes, "aes/gcm/nopadding") {
		if _, err := NewEncrypt(EncryptConfig{Algorithm: alg, Key: testKey}); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	for _, n := range []int{0, 8, 15, 17, 33} {
		if _, err := NewEncrypt(EncryptConfig{Key: make([]byte, n)}); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("key of %d bytes: %v", n, err)
		}
	}
	ics, err := Build("encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f;encryptionAlgorithm=AES/CBC/PKCS5Padding;replayWindowTime=5000;replayWindowMessageCount=100)", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := ics[0].(*Encrypt).Config()
	if c.Algorithm != "AES/CBC/PKCS5Padding" || c.Key[15] != 15 || c.ReplayWindowTime != 5*time.Second || c.ReplayWindowMessageCount != 100 {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []string{"encrypt", "encrypt(encryptionKey=xyz)", "encrypt(encryptionKey=00112233445566778899aabbccddeeff;providerName=BC)"} {
		if _, err := Build(bad, nil); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("Build(%q) = %v", bad, err)
		}
	}
	if d := newEncrypt(t, EncryptConfig{}).Config(); d.Algorithm != "AES/GCM/NoPadding" || d.ReplayWindowTime != 10*time.Second || d.ReplayWindowMessageCount != 8192 {
		t.Fatalf("defaults %+v", d)
	}
}

// fakeTCPFailureDetector stands for the TCP failure detector (matched by its CheckMembers).
type fakeTCPFailureDetector struct{ channel.InterceptorBase }

func (*fakeTCPFailureDetector) CheckMembers(bool) {}

// As in Tomcat, a TCP failure detector above Encrypt is a configuration error at start;
// below it is fine.
func TestEncryptBelowFailureDetector(t *testing.T) {
	nw := channeltest.NewNetwork()
	bad := newNode(t, nw, &fakeTCPFailureDetector{}, newEncrypt(t, EncryptConfig{}))
	if err := bad.ch.Start(context.Background(), channel.SvcAll); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("start: %v, want ErrInvalidConfig", err)
	}
	good := newNode(t, nw, newEncrypt(t, EncryptConfig{}), &fakeTCPFailureDetector{})
	startNodes(t, good)
}
