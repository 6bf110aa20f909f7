package farm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Install sends the file at path to every current member as the context contextName
// (Tomcat's FarmWarDeployer.install): each member assembles it in its temporary
// directory and, after the last chunk, installs it in its deploy directory under the
// file's base name. It does not install the file here (Deploy does both). A member that
// fails a chunk gets no further chunk; the error is then a *channel.SendError naming
// every member that failed (channel.FaultyMembers), after the others got the whole file.
// Installs of files of one name (the base of path) run one at a time: a second one
// waits, within ctx, for the first to end. A deployer that is not running returns
// ErrStopped.
func (d *Deployer) Install(ctx context.Context, contextName, path string) error {
	if err := d.checkRunning(); err != nil {
		return err
	}
	name := filepath.Base(path)
	if err := checkFileName(name); err != nil {
		return err
	}
	if err := checkContextName(contextName); err != nil {
		return err
	}
	stamp, done, err := d.startSend(ctx, name)
	if err != nil {
		return err
	}
	defer done()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("farm: %s is not a regular file", path)
	}
	to := d.cfg.Channel.Members()
	if len(to) == 0 {
		return nil
	}
	chunk := int64(d.cfg.ChunkSize)
	total := max(1, (fi.Size()+chunk-1)/chunk)
	buf := make([]byte, chunk)
	var data []byte
	var faulty []channel.FaultyMember
	for n := int64(1); n <= total && len(to) > 0; n++ {
		k, err := io.ReadFull(f, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !(errors.Is(err, io.EOF) && n == total) {
			return fmt.Errorf("farm: read %s: %w", path, err)
		}
		m := &FileMessage{Timestamp: stamp, Number: int32(n), Total: total, Data: buf[:k],
			FileName: name, ContextName: contextName}
		if data, err = AppendMessage(data[:0], m); err != nil {
			return err
		}
		err = d.cfg.Channel.SendMessage(ctx, to, &channel.Message{Options: d.cfg.SendOptions &^ channel.OptByteMessage, Data: data})
		if err == nil {
			continue
		}
		failed := channel.FaultyMembers(err)
		if len(failed) == 0 || ctx.Err() != nil {
			return err
		}
		faulty = append(faulty, failed...)
		to = slices.DeleteFunc(to, func(m channel.Member) bool {
			return slices.ContainsFunc(failed, func(f channel.FaultyMember) bool { return f.Member.Key() == m.Key() })
		})
	}
	if len(faulty) > 0 {
		return &channel.SendError{Faulty: faulty}
	}
	d.stats.sent.Add(1)
	return nil
}

// Remove asks every current member to undeploy the context (Tomcat's
// FarmWarDeployer.remove): each removes the file it installed for it from its deploy
// directory and calls its OnRemove. With undeploy, the context is removed here as well.
// A deployer that is not running returns ErrStopped.
func (d *Deployer) Remove(ctx context.Context, contextName string, undeploy bool) error {
	if err := d.checkRunning(); err != nil {
		return err
	}
	if err := checkContextName(contextName); err != nil {
		return err
	}
	var err error
	if to := d.cfg.Channel.Members(); len(to) > 0 {
		now := time.Now().UnixMilli()
		m := &UndeployMessage{Sender: d.cfg.Channel.LocalMember(), Timestamp: now,
			UniqueID: fmt.Sprintf("Undeploy:%s:%d", contextName, now), ContextName: contextName}
		var data []byte
		if data, err = AppendMessage(nil, m); err != nil {
			return err
		}
		err = d.cfg.Channel.SendMessage(ctx, to, &channel.Message{Options: d.cfg.SendOptions &^ channel.OptByteMessage, Data: data})
	}
	if undeploy {
		lerr := d.service(contextName, func() error {
			d.removeFile(contextName, "")
			if d.cfg.OnRemove != nil {
				d.cfg.OnRemove(contextName)
			}
			return nil
		})
		err = errors.Join(err, lerr)
	}
	return err
}

// Deploy installs the file at path here, as the context ContextName(its name), and
// sends it to every member (what Tomcat's watcher does with a new or changed file of
// its watch directory): the file is copied into DeployDir, OnInstall runs, then Install.
// A deployer that is not running returns ErrStopped.
func (d *Deployer) Deploy(ctx context.Context, path string) error {
	if err := d.checkRunning(); err != nil {
		return err
	}
	name := filepath.Base(path)
	if err := checkFileName(name); err != nil {
		return err
	}
	contextName := ContextName(name)
	if err := checkContextName(contextName); err != nil {
		return err
	}
	dst := filepath.Join(d.cfg.DeployDir, name)
	err := d.service(contextName, func() error {
		d.removeFile(contextName, name)
		if err := copyFile(path, dst); err != nil {
			return err
		}
		d.mu.Lock()
		d.installed[contextName] = name
		d.mu.Unlock()
		return d.installed1(Deployment{ContextName: contextName, Path: dst})
	})
	if err != nil {
		return err
	}
	return d.Install(ctx, contextName, dst)
}

// startSend waits, within ctx, until this deployer sends no file of this name (the
// chunks of two transfers of one name would reach the members interleaved), marks it
// being sent and returns the transfer's FileMessage timestamp: the time in ms, above
// that of the previous transfer, so that a member tells the transfers apart. done ends
// the transfer.
func (d *Deployer) startSend(ctx context.Context, name string) (stamp int64, done func(), err error) {
	d.mu.Lock()
	for {
		busy, ok := d.sending[name]
		if !ok {
			break
		}
		d.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
		d.mu.Lock()
	}
	sending := make(chan struct{})
	d.sending[name] = sending
	d.lastStamp = max(time.Now().UnixMilli(), d.lastStamp+1)
	stamp = d.lastStamp
	d.mu.Unlock()
	return stamp, func() {
		d.mu.Lock()
		delete(d.sending, name)
		d.mu.Unlock()
		close(sending)
	}, nil
}

// checkRunning returns ErrStopped unless the deployer was started and not stopped since.
func (d *Deployer) checkRunning() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running {
		return ErrStopped
	}
	return nil
}

// copyFile copies src to dst through a temporary file in dst's directory, so that dst
// appears complete or not at all.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := createTemp(filepath.Dir(dst))
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if serr := tmp.Sync(); err == nil {
		err = serr
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// tempPrefix starts the names of the deployer's temporary files: hidden, as no received
// file's name is, and not ending in ".war".
const tempPrefix = ".farm-"

// createTemp creates a new file in dir named tempPrefix and a random number (not derived
// from the file it stands for, whose name may be as long as a name can be), with mode
// 0644 less the process's umask, what Tomcat's FileOutputStream gives the files it
// writes (os.CreateTemp's are 0600).
func createTemp(dir string) (*os.File, error) {
	for range 10000 {
		name := filepath.Join(dir, tempPrefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("farm: cannot create a temporary file in %s", dir)
}
