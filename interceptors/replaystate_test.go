package interceptors

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

func restart(t *testing.T, n *tnode) {
	t.Helper()
	ctx := context.Background()
	if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
}

// Without a saved memory, a restarted receiver refuses a copy captured before the restart
// (stamped before it started), and takes what is sent after.
func TestEncryptReplayAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		eb := newEncrypt(t, EncryptConfig{})
		a, b := newNode(t, nw, newEncrypt(t, EncryptConfig{})), newNode(t, nw, eb)
		startNodes(t, a, b)
		a.send(t, b, []byte("pay 100"), channel.OptUseAck)
		captured := a.tap.sent()[0]
		time.Sleep(time.Second)
		restart(t, b)
		b.tap.inject(captured.Clone())
		if got := b.payloads(); len(got) != 1 {
			t.Fatalf("the capture was delivered after the restart: %q", got)
		}
		if s := eb.Stats(); s.ReplayRejected != 1 {
			t.Fatalf("stats %+v", s)
		}
		time.Sleep(time.Millisecond)
		a.send(t, b, []byte("after"), channel.OptUseAck)
		if got := b.payloads(); len(got) != 2 || string(got[1]) != "after" {
			t.Fatalf("delivered %q", got)
		}
	})
}

// With ReplayStateFile the memory survives a planned restart: the capture is refused as
// seen before, while a message stamped before the restart and never received still passes
// (no fence was needed). The file is consumed, so a crash later falls back to the fence.
func TestEncryptReplayStateFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "replay")
		nw := channeltest.NewNetwork()
		ea := newEncrypt(t, EncryptConfig{})
		eb := newEncrypt(t, EncryptConfig{ReplayStateFile: path})
		a, b := newNode(t, nw, ea), newNode(t, nw, eb)
		startNodes(t, a, b)
		time.Sleep(time.Second)
		a.send(t, b, []byte("pay 100"), channel.OptUseAck)
		captured := a.tap.sent()[0]
		late, _ := ea.Seal(time.Now().UnixMilli(), []byte("stamped before the restart"))
		time.Sleep(time.Second)

		if err := b.ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() != replayStateHeader+replayStateEntry {
			t.Fatalf("state file after stop: %v, %v", st, err)
		}
		if err := b.ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("state file not consumed at start: %v", err)
		}
		b.tap.inject(captured.Clone())
		b.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: a.member(), Data: late})
		if got := b.payloads(); len(got) != 2 || string(got[1]) != "stamped before the restart" {
			t.Fatalf("delivered %q", got)
		}
		if s := eb.Stats(); s.ReplayRejected != 1 || s.RememberedIVs != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// A state file that does not parse is not trusted: the receiver fences, says why, and
// removes the file.
func TestEncryptReplayStateCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	e := newEncrypt(t, EncryptConfig{ReplayStateFile: path, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	now := time.Now()
	e.restoreReplay(now)
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "malformed replay state") {
		t.Fatalf("logged %q", logged.String())
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("corrupt file kept: %v", err)
	}
	w, _ := e.Seal(now.UnixMilli()-1, []byte("stamped before the start"))
	if _, err := e.open(w, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("open = %v, want ErrReplay", err)
	}
}

func TestReplayStateRoundTrip(t *testing.T) {
	var w replayWindow
	w.init(10*time.Second, 3)
	now := time.Now()
	for i := range 5 {
		iv := bytes.Repeat([]byte{byte(i)}, gcmIVLen)
		if err := w.check(iv, now.UnixMilli()+int64(i), now); err != nil {
			t.Fatal(err)
		}
	}
	state := w.appendState(nil)
	last, entries, err := parseReplayState(state, 3)
	if err != nil || len(entries) != 3 || last != now.UnixMilli()+1 {
		t.Fatalf("parsed last %d, %d entries, %v", last, len(entries), err)
	}
	var back replayWindow
	back.init(10*time.Second, 3)
	back.restore(last, entries, now)
	if !bytes.Equal(back.appendState(nil), state) {
		t.Fatal("state does not round-trip")
	}
	if _, _, err := parseReplayState(state, 2); !errors.Is(err, errReplayState) {
		t.Fatalf("more entries than the count: %v", err)
	}
	for _, bad := range [][]byte{nil, state[:10], state[:len(state)-1], append(bytes.Clone(state), 0)} {
		if _, _, err := parseReplayState(bad, 3); !errors.Is(err, errReplayState) {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}
}

func FuzzReplayState(f *testing.F) {
	var w replayWindow
	w.init(time.Hour, 4)
	now := time.Now()
	for i := range 3 {
		_ = w.check(bytes.Repeat([]byte{byte(i + 1)}, blockIV), now.UnixMilli()+int64(i), now)
	}
	f.Add(w.appendState(nil))
	f.Add(replayStateMagic)
	f.Fuzz(func(t *testing.T, in []byte) {
		last, entries, err := parseReplayState(in, 4)
		if err != nil {
			return
		}
		if len(entries) > 4 || len(in) != replayStateHeader+len(entries)*replayStateEntry {
			t.Fatalf("accepted %d bytes as %d entries", len(in), len(entries))
		}
		var r replayWindow
		r.init(time.Hour, 4)
		r.restore(last, entries, time.UnixMilli(last)) // never panics, whatever the values
	})
}

// What the docs say about the modes: with CBC a capture's timestamp can be changed through
// the IV, without the key, so an old capture passes the replay check as new; GCM refuses
// the same change.
func TestEncryptTimestampAuthenticatedOnlyWithGCM(t *testing.T) {
	for _, alg := range []string{"AES/CBC/PKCS5Padding", "AES/GCM/NoPadding"} {
		e := newEncrypt(t, EncryptConfig{Algorithm: alg})
		now := time.Now()
		old, fresh := now.Add(-time.Hour).UnixMilli(), now.UnixMilli()
		captured, _ := e.Seal(old, []byte("pay 100"))
		forged := bytes.Clone(captured)
		for i := range tsLen { // the attacker knows roughly when the capture was made
			forged[i] ^= byte(uint64(old^fresh) >> (56 - 8*i))
		}
		_, err := e.open(forged, now)
		if alg == "AES/GCM/NoPadding" {
			if !errors.Is(err, ErrDecrypt) {
				t.Errorf("GCM: forged timestamp: %v, want ErrDecrypt", err)
			}
			continue
		}
		if ts, data, oerr := e.Open(forged); err != nil || oerr != nil || ts != fresh || string(data) != "pay 100" {
			t.Errorf("CBC: forged capture: %v / %v, ts %d, %q", err, oerr, ts, data)
		}
	}
}
