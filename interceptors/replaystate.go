package interceptors

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// The replay state file: magic, int64 lastRemoved (ms), uint32 count, then count entries of
// int64 timestamp (ms) and the 16-byte IV (a 12-byte GCM IV padded with zeros), big-endian.
var replayStateMagic = []byte("GTRIBES-REPLAY-1")

const (
	replayStateHeader = 16 + 8 + 4
	replayStateEntry  = 8 + blockIV
)

// errReplayState is wrapped by every error about a malformed replay state file.
var errReplayState = errors.New("tribes: encrypt: malformed replay state")

// appendState appends the window's memory in the file format.
func (w *replayWindow) appendState(dst []byte) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	dst = append(dst, replayStateMagic...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.lastRemoved))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(w.byTime)))
	for _, e := range w.byTime {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
		dst = append(dst, e.iv[:]...)
	}
	return dst
}

// parseReplayState decodes a state of at most maxCount entries.
func parseReplayState(b []byte, maxCount int) (lastRemoved int64, entries []ivEntry, err error) {
	if len(b) < replayStateHeader || !bytes.Equal(b[:len(replayStateMagic)], replayStateMagic) {
		return 0, nil, fmt.Errorf("%w: no header", errReplayState)
	}
	lastRemoved = int64(binary.BigEndian.Uint64(b[16:]))
	n := binary.BigEndian.Uint32(b[24:])
	if int64(n) > int64(maxCount) {
		return 0, nil, fmt.Errorf("%w: %d entries, at most %d", errReplayState, n, maxCount)
	}
	body := b[replayStateHeader:]
	if len(body) != int(n)*replayStateEntry {
		return 0, nil, fmt.Errorf("%w: %d bytes for %d entries", errReplayState, len(body), n)
	}
	entries = make([]ivEntry, n)
	for i := range entries {
		e := body[i*replayStateEntry:]
		entries[i].ts = int64(binary.BigEndian.Uint64(e))
		copy(entries[i].iv[:], e[8:replayStateEntry])
		entries[i].seq = uint64(i)
	}
	return lastRemoved, entries, nil
}

// restore replaces the memory with a saved one, less what is older than the window at now.
func (w *replayWindow) restore(lastRemoved int64, entries []ivEntry, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := now.UnixMilli() - w.window
	w.seen = make(map[[blockIV]byte]struct{}, len(entries))
	w.byTime = w.byTime[:0]
	w.lastRemoved = max(lastRemoved, old)
	for _, e := range entries {
		if _, dup := w.seen[e.iv]; dup || e.ts < old {
			continue
		}
		w.seen[e.iv] = struct{}{}
		w.byTime = append(w.byTime, e)
	}
	heap.Init(&w.byTime)
	w.seq = uint64(len(entries))
}

// saveReplay writes the replay memory to ReplayStateFile (through a temporary file, so that
// a crash never leaves half a state).
func (e *Encrypt) saveReplay() error {
	path := e.cfg.ReplayStateFile
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, e.replay.appendState(nil), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// restoreReplay starts the receiver's replay memory: the one saved in ReplayStateFile, which
// is then removed (a crash before the next save leaves none), else an empty one that refuses
// every message stamped before now.
func (e *Encrypt) restoreReplay(now time.Time) {
	path := e.cfg.ReplayStateFile
	fence := now.UnixMilli() - 1 // refuse what is stamped before this millisecond
	if path == "" {
		e.replay.reset(fence)
		return
	}
	b, err := readFileCapped(path, replayStateHeader+e.cfg.ReplayWindowMessageCount*replayStateEntry)
	if err == nil {
		var last int64
		var entries []ivEntry
		if last, entries, err = parseReplayState(b, e.cfg.ReplayWindowMessageCount); err == nil {
			e.replay.restore(last, entries, now)
		}
	}
	if err != nil {
		e.replay.reset(fence)
		if !errors.Is(err, fs.ErrNotExist) {
			e.log.Warn("encrypt: replay state not restored; refusing messages stamped before the start", "file", path, "err", err)
		}
	}
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		e.log.Warn("encrypt: replay state not removed after reading", "file", path, "err", rerr)
	}
}

// readFileCapped reads a file of at most limit bytes.
func readFileCapped(path string, limit int) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", errReplayState, st.Size(), limit)
	}
	return os.ReadFile(path)
}
