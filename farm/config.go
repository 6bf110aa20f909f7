package farm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// Defaults of Config (Tomcat's FarmWarDeployer attributes beside them).
const (
	// DefaultWatchInterval is how often WatchDir is scanned (Tomcat: the engine's
	// backgroundProcessorDelay, 10 s, times processDeployFrequency, 2).
	DefaultWatchInterval = 20 * time.Second
	// DefaultMaxValidTime is how long an incomplete received file may wait for its next
	// chunk before it is dropped (maxValidTime, 300 s).
	DefaultMaxValidTime = 5 * time.Minute
	// DefaultChunkSize is the file bytes per FileMessage (FileMessageFactory.READ_SIZE,
	// 10 KiB).
	DefaultChunkSize = 10 << 10
	// DefaultMaxFileBytes bounds a received file (no Tomcat equivalent).
	DefaultMaxFileBytes = 1 << 30
	// DefaultMaxIncomplete bounds the files being received at once (no Tomcat
	// equivalent).
	DefaultMaxIncomplete = 16
	// DefaultMaxChunkBytes bounds one received chunk (no Tomcat equivalent: Tomcat sends
	// 10 KiB).
	DefaultMaxChunkBytes = 4 << 20
	// DefaultMaxOutOfOrderBytes bounds the chunks of one file held because an earlier
	// one has not arrived yet, each counted with heldChunkCost bytes more than its data
	// (no Tomcat equivalent).
	DefaultMaxOutOfOrderBytes = 4 << 20
	// DefaultSendOptions are the options of the deployer's messages: acknowledged once
	// the receiver handled them, so a sender learns of a member that could not take its
	// file (Tomcat sends with the cluster's channelSendOptions, asynchronous by default).
	DefaultSendOptions = channel.OptUseAck | channel.OptSyncAck
)

// Errors; test with errors.Is.
var (
	// ErrBadName: a received file or context name is not a plain name (see Deployer).
	ErrBadName = errors.New("farm: bad name")
	// ErrTooLarge: a received file or chunk exceeds MaxFileBytes or MaxChunkBytes, or
	// its held out-of-order chunks MaxOutOfOrderBytes.
	ErrTooLarge = errors.New("farm: file too large")
	// ErrTooMany: MaxIncomplete files are being received already.
	ErrTooMany = errors.New("farm: too many files being received")
	// ErrInconsistent: a chunk's number or total does not fit the file's earlier chunks.
	ErrInconsistent = errors.New("farm: inconsistent chunk")
	// ErrBusy: the context is being deployed or removed already (Tomcat's "serviced").
	ErrBusy = errors.New("farm: context being serviced")
	// ErrStopped: the deployer is not running.
	ErrStopped = errors.New("farm: deployer not running")
)

// Channel is what a Deployer needs of a channel; *channel.Channel has it.
type Channel interface {
	SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error
	Members() []channel.Member
	// Member returns the membership's record of a member, and false for a sender
	// that is not one: the deployer refuses such a sender's messages.
	Member(key channel.MemberKey) (channel.Member, bool)
	LocalMember() channel.Member
	AddMessageListener(l channel.MessageListener) (remove func())
}

// Deployment is a file the deployer installed in DeployDir.
type Deployment struct {
	ContextName string         // the context it deploys ("" for the root context)
	Path        string         // the file in DeployDir
	From        channel.Member // the member that sent it; zero for a local Deploy
}

// Config configures a Deployer. DeployDir and Channel are required.
type Config struct {
	// Channel carries the deployer's messages.
	Channel Channel
	// DeployDir is where received and watched files are installed (deployDir; for
	// Tomcat nodes, the host's appBase).
	DeployDir string
	// TempDir is where received files are assembled (tempDir). Empty means a new
	// directory under os.TempDir, made by each Start and removed by Stop.
	TempDir string
	// WatchDir, if set, is scanned every WatchInterval: a file matching WatchPattern
	// (a symbolic link to one too) that appeared or changed (and did not change again
	// since the previous scan) is deployed locally and sent to every member; one that
	// disappeared, if a version of it was deployed, is undeployed everywhere (watchDir,
	// watchEnabled). It must not be DeployDir (New fails with channel.ErrInvalidConfig):
	// a deployed file would be seen as changed and deployed again and again.
	WatchDir string
	// WatchPattern selects the files of WatchDir (path.Match syntax, case-sensitive).
	// Empty means Tomcat's filter (WarWatcher's WarFilter): names ending in ".war" in any
	// case.
	WatchPattern string
	// WatchInterval; 0 means DefaultWatchInterval.
	WatchInterval time.Duration
	// MaxValidTime drops an incomplete received file that got no chunk for this long
	// (maxValidTime). 0 means DefaultMaxValidTime; negative never drops one.
	MaxValidTime time.Duration
	// ChunkSize is the file bytes per FileMessage sent, at most MaxChunkBytes. 0 means
	// DefaultChunkSize (or MaxChunkBytes if smaller).
	ChunkSize int
	// MaxFileBytes, MaxChunkBytes, MaxOutOfOrderBytes and MaxIncomplete bound what is
	// received (0 means their Default): a member's chunks can make the deployer hold at
	// most MaxIncomplete × MaxOutOfOrderBytes in memory (64 MiB by default) and
	// MaxIncomplete × MaxFileBytes in TempDir.
	MaxFileBytes       int64
	MaxChunkBytes      int
	MaxOutOfOrderBytes int
	MaxIncomplete      int
	// SendOptions are the options of the messages sent. 0 means DefaultSendOptions.
	SendOptions channel.SendOptions
	// OnInstall is called once a file is installed in DeployDir, received or deployed
	// locally (Tomcat then deploys it with HostConfig.check). Its error is the error of
	// the file's last chunk, which a synchronized-ack sender gets as FAIL_ACK. It runs
	// on the goroutine that received the chunk: hand long work off. It runs while the
	// context is marked serviced (Tomcat's HostConfig deploys it so): an install or
	// undeploy of the same context meanwhile fails with ErrBusy.
	OnInstall func(Deployment) error
	// OnRemove is called once a context was undeployed (its file removed from
	// DeployDir, if there was one), on a member's request or a local Remove, while the
	// context is still marked serviced, as OnInstall.
	OnRemove func(contextName string)
	// Logger; nil discards.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Channel == nil {
		return fmt.Errorf("%w: farm.Config.Channel is required", channel.ErrInvalidConfig)
	}
	if c.DeployDir == "" {
		return fmt.Errorf("%w: farm.Config.DeployDir is required", channel.ErrInvalidConfig)
	}
	if c.ChunkSize < 0 || c.MaxFileBytes < 0 || c.MaxChunkBytes < 0 || c.MaxOutOfOrderBytes < 0 || c.MaxIncomplete < 0 ||
		c.WatchInterval < 0 {
		return fmt.Errorf("%w: negative farm.Config limit", channel.ErrInvalidConfig)
	}
	if _, err := filepath.Match(c.WatchPattern, ""); err != nil {
		return fmt.Errorf("%w: farm.Config.WatchPattern: %w", channel.ErrInvalidConfig, err)
	}
	setDefault(&c.WatchInterval, DefaultWatchInterval)
	setDefault(&c.MaxValidTime, DefaultMaxValidTime)
	setDefault(&c.MaxFileBytes, DefaultMaxFileBytes)
	setDefault(&c.MaxChunkBytes, DefaultMaxChunkBytes)
	setDefault(&c.ChunkSize, min(DefaultChunkSize, c.MaxChunkBytes))
	setDefault(&c.MaxOutOfOrderBytes, DefaultMaxOutOfOrderBytes)
	setDefault(&c.MaxIncomplete, DefaultMaxIncomplete)
	setDefault(&c.SendOptions, DefaultSendOptions)
	if c.ChunkSize > c.MaxChunkBytes {
		return fmt.Errorf("%w: farm.Config.ChunkSize above MaxChunkBytes", channel.ErrInvalidConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if fi, err := os.Stat(c.DeployDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: farm.Config.DeployDir %s is not a directory (%v)", channel.ErrInvalidConfig, c.DeployDir, err)
	}
	if c.WatchDir != "" && sameDir(c.WatchDir, c.DeployDir) {
		return fmt.Errorf("%w: farm.Config.WatchDir %s is DeployDir", channel.ErrInvalidConfig, c.WatchDir)
	}
	return nil
}

// sameDir reports whether the paths a and b name one directory: equal once made absolute,
// cleaned and their symbolic links resolved, or one file (os.SameFile: a bind mount, a
// hard-linked path).
func sameDir(a, b string) bool {
	resolve := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if r, err := filepath.Abs(p); err == nil {
			p = r
		}
		return filepath.Clean(p)
	}
	if resolve(a) == resolve(b) {
		return true
	}
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	return aerr == nil && berr == nil && os.SameFile(ai, bi)
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// limits are the decoder's limits for one message: a chunk and the stream around it.
func (c *Config) limits() jserial.DecoderConfig {
	return jserial.DecoderConfig{MaxBytes: int64(c.MaxChunkBytes) + 4096, MaxArrayLen: c.MaxChunkBytes, MaxDepth: 8, MaxHandles: 64}
}
