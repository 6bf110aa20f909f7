package farm

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// watcher scans WatchDir (Tomcat's WarWatcher). A file is acted on once a scan finds it
// as the previous scan did (same size and modification time), so that one still being
// copied in is not sent half-written.
type watcher struct {
	d     *Deployer
	files map[string]*watched
}

type watched struct {
	size     int64
	modTime  time.Time
	deployed bool // deployed since its last change
	// live: a version of the file was deployed (this one or one before a change), so
	// that its removal undeploys it, even while it was changing. A version skipped as
	// older than DeployDir's does not make it live.
	live bool
}

func newWatcher(d *Deployer) *watcher { return &watcher{d: d, files: map[string]*watched{}} }

// scan looks at WatchDir once: a new or changed file is recorded, a file unchanged since
// the previous scan and not deployed in that state is deployed, and a deployed file that
// disappeared is removed from every member and here.
func (w *watcher) scan(ctx context.Context) {
	d := w.d
	entries, err := os.ReadDir(d.cfg.WatchDir)
	if err != nil {
		d.cfg.Logger.Warn("farm: cannot list the watch directory", "dir", d.cfg.WatchDir, "err", err)
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !w.match(name) || checkFileName(name) != nil {
			continue
		}
		// os.Stat follows a symbolic link, as Tomcat's File.listFiles does.
		fi, err := os.Stat(filepath.Join(d.cfg.WatchDir, name))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		seen[name] = true
		f := w.files[name]
		if f == nil || f.size != fi.Size() || !f.modTime.Equal(fi.ModTime()) {
			w.files[name] = &watched{size: fi.Size(), modTime: fi.ModTime(), live: f != nil && f.live}
			continue
		}
		if f.deployed {
			continue
		}
		f.deployed = true
		// Tomcat skips a file older than the one already deployed for its context. Such a
		// file is not made live: its removal is to undeploy nothing, the context deployed
		// not having come from it (Tomcat undeploys it everywhere:
		// TestWatchSkippedFileRemovedUndeploysNothing).
		if dfi, err := os.Stat(filepath.Join(d.cfg.DeployDir, name)); err == nil && dfi.ModTime().After(fi.ModTime()) {
			d.cfg.Logger.Info("farm: watched file older than the deployed one; not deployed", "file", name)
			continue
		}
		f.live = true
		if err := act(ctx, func(ctx context.Context) error { return d.Deploy(ctx, filepath.Join(d.cfg.WatchDir, name)) }); err != nil {
			d.cfg.Logger.Error("farm: cannot deploy a watched file", "file", name, "err", err)
		}
	}
	for name, f := range w.files {
		if seen[name] {
			continue
		}
		delete(w.files, name)
		if !f.live {
			continue
		}
		if err := act(ctx, func(ctx context.Context) error { return d.Remove(ctx, ContextName(name), true) }); err != nil {
			d.cfg.Logger.Error("farm: cannot undeploy a removed watched file", "file", name, "err", err)
		}
	}
}

// match reports whether a file name of WatchDir is one to watch: WatchPattern's, or
// without one, Tomcat's WarFilter (".war" in any case).
func (w *watcher) match(name string) bool {
	if w.d.cfg.WatchPattern == "" {
		return hasSuffixFold(name, ".war")
	}
	ok, _ := filepath.Match(w.d.cfg.WatchPattern, name)
	return ok
}

// actionTimeout bounds one deployment or removal of the watcher.
const actionTimeout = time.Minute

// act runs f with a context bounded by actionTimeout.
func act(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	return f(ctx)
}
