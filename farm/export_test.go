package farm

import "github.com/gotribes/tribes/channel"

// Receive hands msg to d's channel listener, as the channel does, and returns its error.
func Receive(d *Deployer, msg *channel.Message) error { return listener{d}.MessageReceived(msg) }

// TempDirOf returns the directory d assembles received files in (Config.TempDir, or the
// one Start made).
func TempDirOf(d *Deployer) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tempDir
}
