package farm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/jserial"
)

// Deployer sends files to the members of a channel and installs the files they send
// (Tomcat's FarmWarDeployer). Create it with New, then Start.
type Deployer struct {
	cfg      Config
	remove   func()
	refusals *ratelog.Limiter // what members sent that was refused, per member and kind

	mu        sync.Mutex
	running   bool
	incoming  map[fileKey]*incoming    // by sender, file name and transfer (Tomcat: by file name)
	serviced  map[string]bool          // contexts being installed or removed
	installed map[string]string        // context name → file name, for files this deployer installed
	sending   map[string]chan struct{} // file names Install is sending, each closed when it is done
	lastStamp int64                    // the last transfer's FileMessage timestamp Install used
	tempDir   string                   // where files are assembled: cfg.TempDir or one Start made
	ownTemp   bool                     // tempDir was made by Start, and the background work removes it
	cancel    context.CancelFunc       // ends the background work
	done      chan struct{}            // closed when the background work ended and cleaned up
	stopErr   error                    // what the cleanup failed with, for Stop

	// deliveries counts the messages being handled (MessageReceived); Add only under mu
	// while running. The background work waits for them before it cleans up and ends, and
	// Start waits for that end, so a Wait has returned before the next run's first Add.
	deliveries sync.WaitGroup

	stats struct {
		received, sent, undeploys, refused, expired, installFailed atomic.Uint64
	}
}

// fileKey names a file being received: two members sending files of the same name at
// once do not mix their chunks, nor do two transfers of one name from one member. A
// transfer is told by its chunks' FileMessage timestamp: a Go sender gives every chunk
// of a transfer the same one, and a new one to each transfer (Install); Tomcat leaves
// it 0, so its transfers of one name are told apart by nothing, as in Tomcat. A chunk
// stamped later than its file's first, in order, continues that file (continued).
type fileKey struct {
	from  channel.MemberKey
	name  string
	stamp int64
}

// incoming is a file being received.
type incoming struct {
	key           fileKey
	name, context string
	from          channel.Member
	f             *os.File
	total         int64
	next          int64            // the next chunk to write
	held          map[int64][]byte // chunks that arrived before next
	heldBytes     int
	written       int64
	last          time.Time
}

// Stats are a deployer's counters.
type Stats struct {
	FilesReceived     uint64 // files received completely and installed
	FilesSent         uint64 // files Install sent to every member asked
	UndeploysReceived uint64 // UndeployMessages handled
	Refused           uint64 // chunks refused: bad names, limits, inconsistent numbering
	Expired           uint64 // incomplete files dropped after MaxValidTime
	InstallFailed     uint64 // received files that could not be moved into DeployDir, or whose OnInstall failed
	Incomplete        int    // files being received now
}

// New returns a deployer for cfg (see Config for the defaults).
func New(cfg Config) (*Deployer, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Deployer{cfg: cfg, refusals: ratelog.New(ratelog.Config{Logger: cfg.Logger}), incoming: map[fileKey]*incoming{},
		serviced: map[string]bool{}, installed: map[string]string{}, sending: map[string]chan struct{}{}}, nil
}

// Start makes the temporary directory if needed (without Config.TempDir, a new one each
// time), registers the deployer's message listener and starts the sweep of stale
// incomplete files and, with WatchDir, the watcher. After a Stop whose context ended
// before the background work did, Start waits (within ctx) for that work to end and
// clean up.
func (d *Deployer) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.running {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		prev := d.done
		if prev == nil || isClosed(prev) {
			break
		}
		d.mu.Unlock()
		select {
		case <-prev:
		case <-ctx.Done():
		}
		d.mu.Lock()
	}
	d.stopErr = nil
	// A directory Start made is removed at Stop: the next Start makes a new one rather
	// than trust whatever now has the old name (in a directory others can write to).
	dir, own := d.cfg.TempDir, d.cfg.TempDir == ""
	var err error
	if own {
		dir, err = os.MkdirTemp("", "gotribes-farm-")
	} else {
		err = os.MkdirAll(dir, 0o750)
	}
	if err != nil {
		return err
	}
	d.tempDir, d.ownTemp = dir, own
	d.running = true
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	d.remove = d.cfg.Channel.AddMessageListener(listener{d})
	go d.background(ctx, d.done)
	return nil
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Stop removes the listener, ends the background work, waits for the messages being
// handled (a received file's install and OnInstall included) and drops the incomplete
// files (and the temporary directory Start made). If ctx ends first, Stop returns its
// error and the background work cleans up once it and those messages end; a later Stop
// waits for that and returns nil once it is done. (Stop called from OnInstall or OnRemove
// therefore returns only when its ctx ends.)
func (d *Deployer) Stop(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.running = false
		d.remove()
		d.cancel()
	}
	done := d.done
	d.mu.Unlock()
	if done == nil {
		return nil // never started
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.stopErr
	d.stopErr = nil // reported once
	return err
}

// cleanup drops the incomplete files and removes the temporary directory Start made,
// once the background work ended after Stop.
func (d *Deployer) cleanup() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, in := range d.incoming {
		in.discard()
		delete(d.incoming, k)
	}
	if d.ownTemp {
		d.ownTemp = false
		d.stopErr = os.RemoveAll(d.tempDir)
	}
}

// Stats returns the deployer's counters.
func (d *Deployer) Stats() Stats {
	d.mu.Lock()
	n := len(d.incoming)
	d.mu.Unlock()
	return Stats{FilesReceived: d.stats.received.Load(), FilesSent: d.stats.sent.Load(),
		UndeploysReceived: d.stats.undeploys.Load(), Refused: d.stats.refused.Load(), Expired: d.stats.expired.Load(),
		InstallFailed: d.stats.installFailed.Load(), Incomplete: n}
}

// listener is the deployer's channel listener.
type listener struct{ d *Deployer }

// Accept takes the serialized FileMessages and UndeployMessages.
func (l listener) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 &&
		(bytes.HasPrefix(msg.Data, filePrefix) || bytes.HasPrefix(msg.Data, undeployPrefix))
}

// MessageReceived handles one message; its error goes back to a synchronized-ack
// sender as FAIL_ACK. A message from a sender that is not a member of the channel
// (which delivers it when configured with AcceptNonMembers, as beside Tomcat) is
// refused before it is decoded, with an error wrapping channel.ErrNotMember: a
// stranger's file would be a web application the host runs. Members are those the
// channel's own check takes (sender). Tomcat's FarmWarDeployer installs anyone's.
func (l listener) MessageReceived(msg *channel.Message) error {
	d := l.d
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return ErrStopped
	}
	d.deliveries.Add(1)
	d.mu.Unlock()
	defer d.deliveries.Done()
	from, ok := d.sender(msg.Source)
	if !ok {
		d.stats.refused.Add(1)
		d.refusals.Log(slog.LevelWarn, msg.Source.Addr(), "non-member", "farm: message from a sender that is not a member refused",
			"from", msg.Source.String())
		return fmt.Errorf("%w: farm: message from %s", channel.ErrNotMember, msg.Source.Addr())
	}
	m, err := DecodeMessage(msg.Data, d.cfg.limits())
	if errors.Is(err, jserial.ErrLimit) {
		err = fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err != nil {
		d.stats.refused.Add(1)
		d.refusals.Log(slog.LevelWarn, from.Addr(), "undecodable", "farm: undecodable message",
			"from", from.Addr(), "err", err)
		return err
	}
	switch m := m.(type) {
	case *FileMessage:
		err = d.receiveChunk(m, from, inOrder(msg.Options))
	case *UndeployMessage:
		err = d.undeploy(m.ContextName, from)
	}
	return err
}

// inOrder reports whether a sender using opts sends a file's chunks one after the other,
// each once the previous one was handled: a synchronized ACK, not through an
// asynchronous queue (which Tomcat may dispatch on several threads).
func inOrder(opts channel.SendOptions) bool {
	const syncAck = channel.OptUseAck | channel.OptSyncAck
	return opts&syncAck == syncAck && opts&channel.OptAsync == 0
}

// receiveChunk writes a chunk into its file and installs the file after its last one.
// ordered says the sender sends the chunks in order (inOrder).
func (d *Deployer) receiveChunk(m *FileMessage, from channel.Member, ordered bool) error {
	in, err := d.writeChunk(m, from, ordered)
	if err != nil {
		d.stats.refused.Add(1)
		d.refusals.Log(slog.LevelWarn, from.Addr(), "refused", "farm: chunk refused", "file", m.FileName,
			"context", m.ContextName, "chunk", m.Number, "from", from.Addr(), "err", err)
		return err
	}
	if in == nil {
		return nil
	}
	return d.install(in)
}

// writeChunk records m and returns the file once its last chunk is written. A chunk
// ahead of the next one its file waits for is held, unless its sender sends in order
// (ordered): then the chunks before it will not come (they went to a deployer that was
// restarted since, or failed), so it is refused and the file dropped, and the sender,
// which waits for this chunk's ACK, learns that the file was not installed.
func (d *Deployer) writeChunk(m *FileMessage, from channel.Member, ordered bool) (*incoming, error) {
	if err := checkFileName(m.FileName); err != nil {
		return nil, err
	}
	if err := checkContextName(m.ContextName); err != nil {
		return nil, err
	}
	if len(m.Data) > d.cfg.MaxChunkBytes {
		return nil, fmt.Errorf("%w: chunk of %d bytes", ErrTooLarge, len(m.Data))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return nil, ErrStopped
	}
	key := fileKey{from: from.Key(), name: m.FileName, stamp: m.Timestamp}
	in := d.incoming[key]
	if in == nil && m.Number > 1 {
		in = d.continued(key, int64(m.Number))
	}
	if in == nil {
		if m.Total < 1 || m.Number < 1 || int64(m.Number) > m.Total {
			return nil, fmt.Errorf("%w: chunk %d of %d", ErrInconsistent, m.Number, m.Total)
		}
		if ordered && m.Number > 1 {
			return nil, fmt.Errorf("%w: chunk %d of %d of %s from an in-order sender, whose chunk 1 this deployer did "+
				"not receive", ErrInconsistent, m.Number, m.Total, m.FileName)
		}
		if len(d.incoming) >= d.cfg.MaxIncomplete {
			return nil, fmt.Errorf("%w: %d", ErrTooMany, len(d.incoming))
		}
		f, err := createTemp(d.tempDir)
		if err != nil {
			return nil, err
		}
		in = &incoming{key: key, name: m.FileName, context: m.ContextName, from: from, f: f, total: m.Total, next: 1,
			held: map[int64][]byte{}}
		d.incoming[key] = in
	}
	n := int64(m.Number)
	switch {
	case m.Total != in.total || m.ContextName != in.context || n < 1 || n > in.total:
		return nil, fmt.Errorf("%w: chunk %d of %d for %s, the file has %d chunks for %q", ErrInconsistent, n, m.Total,
			m.ContextName, in.total, in.context)
	case n < in.next || held(in, n):
		d.refusals.Log(slog.LevelWarn, from.Addr(), "duplicate", "farm: duplicate chunk ignored", "file", m.FileName,
			"chunk", n, "from", from.Addr())
		return nil, nil
	}
	in.last = time.Now()
	if n > in.next {
		if ordered {
			d.drop(in)
			return nil, fmt.Errorf("%w: chunk %d of %s from an in-order sender, chunk %d missing", ErrInconsistent, n,
				in.name, in.next)
		}
		cost := len(m.Data) + heldChunkCost
		if in.heldBytes+cost > d.cfg.MaxOutOfOrderBytes {
			d.drop(in)
			return nil, fmt.Errorf("%w: more than %d bytes of chunks ahead of chunk %d", ErrTooLarge, d.cfg.MaxOutOfOrderBytes, in.next)
		}
		// A copy: m.Data is a slice of the decoded array, which may be much longer.
		in.held[n] = bytes.Clone(m.Data)
		in.heldBytes += cost
		return nil, nil
	}
	for data := m.Data; ; {
		if in.written+int64(len(data)) > d.cfg.MaxFileBytes {
			d.drop(in)
			return nil, fmt.Errorf("%w: %s above %d bytes", ErrTooLarge, in.name, d.cfg.MaxFileBytes)
		}
		if _, err := in.f.Write(data); err != nil {
			d.drop(in)
			return nil, err
		}
		in.written += int64(len(data))
		in.next++
		if in.next > in.total {
			delete(d.incoming, in.key)
			return in, nil
		}
		next, ok := in.held[in.next]
		if !ok {
			return nil, nil
		}
		delete(in.held, in.next)
		in.heldBytes -= len(next) + heldChunkCost
		data = next
	}
}

// continued returns the file being received from key's sender under key's name, with
// the greatest timestamp below key's, that waits for chunk n next, if any: Go nodes
// built before transfers had one timestamp stamp each chunk with the time it was sent.
// d.mu held.
func (d *Deployer) continued(key fileKey, n int64) *incoming {
	var found *incoming
	for k, in := range d.incoming {
		if k.from == key.from && k.name == key.name && k.stamp < key.stamp && in.next == n &&
			(found == nil || k.stamp > found.key.stamp) {
			found = in
		}
	}
	return found
}

// heldChunkCost is what a held chunk counts towards MaxOutOfOrderBytes besides its data:
// about its map entry and slice header, so that empty chunks are bounded too.
const heldChunkCost = 64

// held reports whether chunk n of in arrived early and waits.
func held(in *incoming, n int64) bool {
	_, ok := in.held[n]
	return ok
}

// drop abandons an incoming file, d.mu held.
func (d *Deployer) drop(in *incoming) {
	in.discard()
	delete(d.incoming, in.key)
}

// discard closes and removes the file's temporary copy.
func (in *incoming) discard() {
	_ = in.f.Close()
	_ = os.Remove(in.f.Name())
}

// install moves a complete file into DeployDir, replacing the context's previous file,
// and calls OnInstall, the context marked serviced throughout.
func (d *Deployer) install(in *incoming) error {
	err := in.f.Sync()
	if cerr := in.f.Close(); err == nil {
		err = cerr
	}
	dst := filepath.Join(d.cfg.DeployDir, in.name)
	moved := false
	if err == nil {
		err = d.service(in.context, func() error {
			d.removeFile(in.context, in.name)
			if err := moveFile(in.f.Name(), dst); err != nil {
				return err
			}
			moved = true
			d.mu.Lock()
			d.installed[in.context] = in.name
			d.mu.Unlock()
			d.stats.received.Add(1)
			d.cfg.Logger.Info("farm: installed a received file", "file", in.name, "context", in.context, "bytes",
				in.written, "from", in.from.Addr())
			return d.installed1(Deployment{ContextName: in.context, Path: dst, From: in.from})
		})
	}
	if err != nil && !moved {
		_ = os.Remove(in.f.Name())
		d.stats.installFailed.Add(1)
		d.cfg.Logger.Error("farm: cannot install a received file", "file", in.name, "context", in.context, "err", err)
	}
	return err
}

// installed1 calls OnInstall.
func (d *Deployer) installed1(dep Deployment) error {
	if d.cfg.OnInstall == nil {
		return nil
	}
	if err := d.cfg.OnInstall(dep); err != nil {
		d.stats.installFailed.Add(1)
		d.cfg.Logger.Error("farm: OnInstall failed", "context", dep.ContextName, "file", dep.Path, "err", err)
		return err
	}
	return nil
}

// service runs f while the context is marked serviced (Tomcat's tryAddServiced), or
// fails with ErrBusy.
func (d *Deployer) service(contextName string, f func() error) error {
	d.mu.Lock()
	if d.serviced[contextName] {
		d.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrBusy, contextName)
	}
	d.serviced[contextName] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.serviced, contextName)
		d.mu.Unlock()
	}()
	return f()
}

// removeFile removes the context's file from DeployDir: the one this deployer installed
// for it, else BaseName(context).war; keep is a file name not to remove (the file about
// to replace it has that name).
func (d *Deployer) removeFile(contextName, keep string) {
	d.mu.Lock()
	name, ok := d.installed[contextName]
	delete(d.installed, contextName)
	d.mu.Unlock()
	if !ok {
		name = BaseName(contextName) + ".war"
	}
	if name == keep {
		return
	}
	if err := os.Remove(filepath.Join(d.cfg.DeployDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.cfg.Logger.Warn("farm: cannot remove a deployed file", "file", name, "err", err)
	}
}

// undeploy removes a context at a member's request.
func (d *Deployer) undeploy(contextName string, from channel.Member) error {
	if err := checkContextName(contextName); err != nil {
		d.stats.refused.Add(1)
		d.refusals.Log(slog.LevelWarn, from.Addr(), "refused", "farm: undeploy refused", "from", from.Addr(), "err", err)
		return err
	}
	return d.service(contextName, func() error {
		d.removeFile(contextName, "")
		d.stats.undeploys.Add(1)
		d.cfg.Logger.Info("farm: undeployed at a member's request", "context", contextName, "from", from.Addr())
		if d.cfg.OnRemove != nil {
			d.cfg.OnRemove(contextName)
		}
		return nil
	})
}

// moveFile renames src to dst, or copies it when they are on different file systems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	if err := copyFile(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// background sweeps stale incomplete files and runs the watcher until ctx ends (which
// also ends a deployment of the watcher in progress), then waits for the messages being
// handled and cleans up for Stop.
func (d *Deployer) background(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer d.cleanup()
	defer d.deliveries.Wait()
	sweepEvery := d.cfg.WatchInterval
	if d.cfg.MaxValidTime > 0 {
		sweepEvery = min(sweepEvery, max(d.cfg.MaxValidTime/4, 10*time.Millisecond))
	}
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	var w *watcher
	if d.cfg.WatchDir != "" {
		w = newWatcher(d)
		w.scan(ctx) // the files there at start are deployed once they are seen unchanged
	}
	lastWatch := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			d.sweep(now)
			// Half a tick of slack: ticks come at the interval, give or take a little.
			if w != nil && now.Sub(lastWatch) >= d.cfg.WatchInterval-sweepEvery/2 {
				lastWatch = now
				w.scan(ctx)
			}
		}
	}
}

// sweep drops the incomplete files that got no chunk for MaxValidTime.
func (d *Deployer) sweep(now time.Time) {
	if d.cfg.MaxValidTime <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, in := range d.incoming {
		if now.Sub(in.last) > d.cfg.MaxValidTime {
			d.cfg.Logger.Warn("farm: dropping an incomplete file", "file", in.name, "chunks", in.next-1, "of", in.total,
				"idle", now.Sub(in.last))
			d.drop(in)
			d.stats.expired.Add(1)
		}
	}
}
