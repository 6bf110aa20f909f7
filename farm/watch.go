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
		if ok, _ := filepath.Match(d.cfg.WatchPattern, name); !ok || !e.Type().IsRegular() || checkFileName(name) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		seen[name] = true
		f := w.files[name]
		if f == nil || f.size != fi.Size() || !f.modTime.Equal(fi.ModTime()) {
			w.files[name] = &watched{size: fi.Size(), modTime: fi.ModTime()}
			continue
		}
		if f.deployed {
			continue
		}
		f.deployed = true
		// Tomcat skips a file older than the one already deployed for its context.
		if dfi, err := os.Stat(filepath.Join(d.cfg.DeployDir, name)); err == nil && dfi.ModTime().After(fi.ModTime()) {
			d.cfg.Logger.Info("farm: watched file older than the deployed one; not deployed", "file", name)
			continue
		}
		if err := act(ctx, func(ctx context.Context) error { return d.Deploy(ctx, filepath.Join(d.cfg.WatchDir, name)) }); err != nil {
			d.cfg.Logger.Error("farm: cannot deploy a watched file", "file", name, "err", err)
		}
	}
	for name, f := range w.files {
		if seen[name] {
			continue
		}
		delete(w.files, name)
		if !f.deployed {
			continue
		}
		if err := act(ctx, func(ctx context.Context) error { return d.Remove(ctx, ContextName(name), true) }); err != nil {
			d.cfg.Logger.Error("farm: cannot undeploy a removed watched file", "file", name, "err", err)
		}
	}
}

// actionTimeout bounds one deployment or removal of the watcher.
const actionTimeout = time.Minute

// act runs f with a context bounded by actionTimeout.
func act(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	return f(ctx)
}
