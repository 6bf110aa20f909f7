package interceptors

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

var legacy = EncryptConfig{Format: EncryptFormatLegacy}

func legacyCfg(alg string) EncryptConfig {
	c := legacy
	c.Algorithm = alg
	return c
}

// Every mode round-trips in the legacy format, whose wire lengths are those of Tomcat
// before 10.1.56: GCM "hello" is 12 + 5 + 16 bytes, CBC 16 + pad16(5). Nothing checks
// replays: a captured message is delivered again.
func TestEncryptLegacyRoundTrip(t *testing.T) {
	for _, alg := range encryptModes {
		t.Run(alg, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			ea, eb := newEncrypt(t, legacyCfg(alg)), newEncrypt(t, legacyCfg(alg))
			a, b := newNode(t, nw, ea), newNode(t, nw, eb)
			startNodes(t, a, b)
			sizes := []int{0, 5, 7, 8, 15, 16, 1000, 1 << 20}
			for i, size := range sizes {
				data := sessionPayload(size, uint64(i))
				a.send(t, b, data, channel.OptUseAck)
				if got := b.messages()[i].Data; !bytes.Equal(got, data) {
					t.Fatalf("size %d: content differs", size)
				}
				w := a.tap.sent()[i].Data
				want := 12 + size + 16
				if alg != "AES/GCM/NoPadding" {
					want = 16 + size/16*16 + 16
				}
				if len(w) != want {
					t.Fatalf("size %d: %d bytes on the wire, want %d", size, len(w), want)
				}
				if size >= 8 && bytes.Contains(w, data) {
					t.Fatal("plaintext on the wire")
				}
			}
			if err := b.tap.inject(a.tap.sent()[1].Clone()); err != nil {
				t.Fatal(err)
			}
			got := b.payloads()
			if len(got) != len(sizes)+1 || !bytes.Equal(got[len(sizes)], got[1]) {
				t.Fatalf("a replayed legacy message: %d messages delivered, want %d", len(got), len(sizes)+1)
			}
			if s := eb.Stats(); s.Decrypted != uint64(len(sizes))+1 || s.DecryptFailed != 0 || s.ReplayRejected != 0 || s.RememberedIVs != 0 {
				t.Fatalf("stats %+v", s)
			}
			if s := ea.Stats(); s.Encrypted != uint64(len(sizes)) {
				t.Fatalf("sender stats %+v", s)
			}
		})
	}
}

// The legacy plaintext is the message alone: decrypt GCM and CBC payloads by hand. Open
// returns timestamp 0.
func TestEncryptLegacyLayout(t *testing.T) {
	block, _ := aes.NewCipher(testKey)
	gcm, _ := cipher.NewGCM(block)
	w, err := newEncrypt(t, legacy).Seal(0x0102030405060708, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := gcm.Open(nil, w[:12], w[12:], nil); err != nil || string(plain) != "hello" {
		t.Fatalf("GCM plaintext %x (%v)", plain, err)
	}
	cbc := newEncrypt(t, legacyCfg("AES/CBC/PKCS5Padding"))
	w, _ = cbc.Seal(7, []byte("hello"))
	body := make([]byte, len(w)-16)
	cipher.NewCBCDecrypter(block, w[:16]).CryptBlocks(body, w[16:])
	if string(body[:5]) != "hello" || !bytes.Equal(body[5:], bytes.Repeat([]byte{11}, 11)) {
		t.Fatalf("CBC plaintext %x", body)
	}
	ts, data, err := cbc.Open(w)
	if err != nil || ts != 0 || string(data) != "hello" {
		t.Fatalf("Open = %d, %q, %v", ts, data, err)
	}
}

// Legacy bytes decode with the right key only. GCM detects a wrong key every time; the
// other modes are not authenticated and may pass the padding check with garbage, but never
// return the message.
func TestEncryptLegacyWrongKey(t *testing.T) {
	msg := []byte("a secret message of some length")
	for _, alg := range encryptModes {
		right := newEncrypt(t, legacyCfg(alg))
		wrongCfg := legacyCfg(alg)
		wrongCfg.Key = []byte("fedcba9876543210")
		wrong := newEncrypt(t, wrongCfg)
		for range 50 {
			w, _ := right.Seal(0, msg)
			if _, got, err := right.Open(w); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%s: right key: %q, %v", alg, got, err)
			}
			_, got, err := wrong.Open(w)
			if alg == "AES/GCM/NoPadding" && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("%s: wrong key: %v, want ErrDecrypt", alg, err)
			}
			if err != nil && !errors.Is(err, ErrDecrypt) || err == nil && bytes.Equal(got, msg) {
				t.Fatalf("%s: wrong key: %q, %v", alg, got, err)
			}
		}
	}
	// Through a channel, GCM with a wrong key is dropped, counted in DecryptFailed, and the
	// sender's ACK still succeeds.
	nw := channeltest.NewNetwork()
	wrongCfg := legacy
	wrongCfg.Key = []byte("fedcba9876543210")
	eb := newEncrypt(t, wrongCfg)
	a, b := newNode(t, nw, newEncrypt(t, legacy)), newNode(t, nw, eb)
	startNodes(t, a, b)
	for range 20 {
		a.send(t, b, msg, channel.OptUseAck|channel.OptSyncAck)
	}
	if s := eb.Stats(); len(b.messages()) != 0 || s.DecryptFailed != 20 || s.Decrypted != 0 || s.ReplayRejected != 0 {
		t.Fatalf("delivered %d, stats %+v", len(b.messages()), s)
	}
}

// Formats that do not match: a timestamped receiver drops a legacy message (ErrReplay: its
// first 8 bytes are no current timestamp; ErrDecrypt: shorter than 8 bytes). A legacy
// receiver cannot tell, delivers the message with the timestamp in front, and warns once.
func TestEncryptFormatMismatch(t *testing.T) {
	now := time.Now()
	for _, alg := range encryptModes {
		old := newEncrypt(t, legacyCfg(alg))
		var logged bytes.Buffer
		oldCfg := legacyCfg(alg)
		oldCfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
		oldRecv := newEncrypt(t, oldCfg)
		cur := newEncrypt(t, EncryptConfig{Algorithm: alg})

		w, _ := old.Seal(0, []byte("hello world, in the legacy format"))
		if _, err := cur.open(w, now); !errors.Is(err, ErrReplay) {
			t.Fatalf("%s: timestamped receiver, legacy message: %v, want ErrReplay", alg, err)
		}
		w, _ = old.Seal(0, []byte("short"))
		if _, err := cur.open(w, now); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "no timestamp") {
			t.Fatalf("%s: timestamped receiver, short legacy message: %v, want ErrDecrypt", alg, err)
		}
		if s := cur.Stats(); s.ReplayRejected != 1 || s.DecryptFailed != 1 || s.Decrypted != 0 {
			t.Fatalf("%s: stats %+v", alg, s)
		}

		for i := range 3 {
			w, _ = cur.Seal(now.UnixMilli(), []byte("new"))
			got, err := oldRecv.open(w, now)
			if err != nil || len(got) != 8+3 || binary.BigEndian.Uint64(got) != uint64(now.UnixMilli()) || string(got[8:]) != "new" {
				t.Fatalf("%s: legacy receiver, timestamped message %d: %x, %v", alg, i, got, err)
			}
		}
		// One warning about the format (CBC, CFB and OFB also get one about the mode).
		if n := strings.Count(logged.String(), "looks like a current timestamp"); n != 1 || !strings.Contains(logged.String(), "timestamped format") {
			t.Fatalf("%s: logged %q, want one warning about the format", alg, logged.String())
		}
	}
	// A legacy message whose first bytes are no timestamp near the clock is not warned about.
	var logged bytes.Buffer
	cfg := legacy
	cfg.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	e := newEncrypt(t, cfg)
	for _, ts := range []int64{now.UnixMilli() - 61_000, now.UnixMilli() + 61_000, -1, 1 << 62} {
		w, _ := e.Seal(0, binary.BigEndian.AppendUint64(nil, uint64(ts)))
		if _, err := e.open(w, now); err != nil {
			t.Fatal(err)
		}
	}
	if logged.Len() != 0 {
		t.Fatalf("logged %q", logged.String())
	}
}

// Junk of any length is an error or a message in the legacy format, never a panic; GCM
// opens none of it.
func TestEncryptLegacyCorrupt(t *testing.T) {
	for _, alg := range encryptModes {
		e := newEncrypt(t, legacyCfg(alg))
		w, _ := e.Seal(0, []byte("hello world, this is a test"))
		w[len(w)-20] ^= 1
		if _, _, err := e.Open(w); alg == "AES/GCM/NoPadding" && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("%s: tampered: %v", alg, err)
		}
		for n := range 70 {
			_, _, err := e.Open(make([]byte, n))
			if err == nil && alg == "AES/GCM/NoPadding" {
				t.Fatalf("%s: %d zero bytes opened", alg, n)
			}
			if err != nil && !errors.Is(err, ErrDecrypt) {
				t.Fatalf("%s: %d bytes: %v", alg, n, err)
			}
		}
	}
}

func TestEncryptFormatConfig(t *testing.T) {
	ics, err := Build("encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f;format=legacy;encryptionAlgorithm=AES/CBC/PKCS5Padding)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*Encrypt).Config(); c.Format != EncryptFormatLegacy || c.Algorithm != "AES/CBC/PKCS5Padding" {
		t.Fatalf("%+v", c)
	}
	for spec, want := range map[string]EncryptFormat{
		"encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f;format=Timestamped)": EncryptFormatTimestamped,
		"encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f)":                    EncryptFormatTimestamped,
	} {
		ics, err := Build(spec, nil)
		if err != nil || ics[0].(*Encrypt).Config().Format != want {
			t.Fatalf("Build(%q): %v", spec, err)
		}
	}
	dir := t.TempDir()
	for _, bad := range []string{
		"encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f;format=10.1.52)",
		"encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f;format=legacy;replayStateFile=" + filepath.Join(dir, "state") + ")",
	} {
		if _, err := Build(bad, nil); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("Build(%q) = %v, want ErrInvalidConfig", bad, err)
		}
	}
	if _, err := NewEncrypt(EncryptConfig{Key: testKey, Format: 7}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("format 7: %v", err)
	}
	for _, f := range []EncryptFormat{EncryptFormatTimestamped, EncryptFormatLegacy} {
		if g, err := ParseEncryptFormat(f.String()); err != nil || g != f {
			t.Errorf("%v: parsed %v, %v", f, g, err)
		}
	}
	if s := EncryptFormat(7).String(); s != "EncryptFormat(7)" {
		t.Errorf("%q", s)
	}
}

// The format and default algorithm of each Tomcat branch, as read in Tomcat's sources
// (the inner timestamp came in 9.0.119, 10.1.56, 11.0.23; GCM became the default in
// 9.0.121, 10.1.58, 11.0.25).
func TestEncryptForTomcat(t *testing.T) {
	const cbc, gcm = "AES/CBC/PKCS5Padding", "AES/GCM/NoPadding"
	for _, c := range []struct {
		v      [3]int
		format EncryptFormat
		alg    string
	}{
		{[3]int{8, 5, 100}, EncryptFormatLegacy, cbc},
		{[3]int{9, 0, 118}, EncryptFormatLegacy, cbc},
		{[3]int{9, 0, 119}, EncryptFormatTimestamped, cbc},
		{[3]int{9, 0, 121}, EncryptFormatTimestamped, gcm},
		{[3]int{10, 0, 27}, EncryptFormatLegacy, cbc},
		{[3]int{10, 1, 52}, EncryptFormatLegacy, cbc},
		{[3]int{10, 1, 55}, EncryptFormatLegacy, cbc},
		{[3]int{10, 1, 56}, EncryptFormatTimestamped, cbc},
		{[3]int{10, 1, 57}, EncryptFormatTimestamped, cbc},
		{[3]int{10, 1, 58}, EncryptFormatTimestamped, gcm},
		{[3]int{10, 1, 60}, EncryptFormatTimestamped, gcm},
		{[3]int{11, 0, 22}, EncryptFormatLegacy, cbc},
		{[3]int{11, 0, 23}, EncryptFormatTimestamped, cbc},
		{[3]int{11, 0, 25}, EncryptFormatTimestamped, gcm},
		{[3]int{12, 0, 0}, EncryptFormatTimestamped, gcm},
	} {
		if f := EncryptFormatForTomcat(c.v[0], c.v[1], c.v[2]); f != c.format {
			t.Errorf("%v: format %v, want %v", c.v, f, c.format)
		}
		if a := EncryptionAlgorithmForTomcat(c.v[0], c.v[1], c.v[2]); a != c.alg {
			t.Errorf("%v: algorithm %s, want %s", c.v, a, c.alg)
		}
	}
}
