package nio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// Defaults, with the Tomcat attribute each one mirrors.
const (
	// DefaultPort is Tomcat's receiver port.
	DefaultPort = 4000
	// DefaultAutoBind is Tomcat's autoBind: how many successive ports are tried.
	DefaultAutoBind = 100
	// DefaultWorkers is Tomcat's receiver maxThreads.
	DefaultWorkers = 15
	// DefaultMaxConnQueueBytes bounds the decoded bytes of one connection waiting for a
	// worker (no Tomcat equivalent: Tomcat stops reading a connection while its task runs).
	DefaultMaxConnQueueBytes = 4 << 20
	// DefaultMaxQueuedBytes bounds the decoded frames of all connections waiting for one of
	// the Workers slots with EngineGoroutine (no Tomcat equivalent: Tomcat stops reading a
	// connection while its task runs; the decoded frames of 256 connections' 64 KiB reads).
	DefaultMaxQueuedBytes = 16 << 20
	// DefaultRxBufSize and DefaultTxBufSize are the receiver's socket buffers (Tomcat
	// rxBufSize / txBufSize on the receiver, 65536 and 25188). The receive buffer, which
	// carries the messages, is left to the operating system (-1: on Linux its auto-tuning,
	// which grows it to megabytes for large messages): a fixed 64 KiB buffer costs a 1 MiB
	// message about 12 reads, 12 writev calls by the sender and twice the wake-ups (see
	// docs/benchmarks-history.md, "What the profile showed and what changed"). Set 65536
	// for Tomcat's value.
	DefaultRxBufSize = -1
	DefaultTxBufSize = 25188
	// DefaultSenderRxBufSize and DefaultSenderTxBufSize are the sender's socket buffers
	// (Tomcat rxBufSize / txBufSize on the sender, 25188 and 65536). The send buffer is
	// 512 KiB (Linux doubles it for its own bookkeeping), fixed, which turns its
	// auto-tuning off: on loopback, acknowledged 1 MiB messages ran at 4.4–6.4 GB/s with it
	// against 2.7–4.3 (one run 6.1) with the auto-tuned one, which grows to megabytes
	// (docs/benchmarks-history.md, "Thirtieth session"). Linux cuts a size above
	// net.core.wmem_max to it with no error, and stock kernels default that to about 208
	// KiB (212992 bytes on x86-64): there the send buffer is that, unless the sysctl is
	// raised to 524288 or more (TestSenderSocketBuffers); Stats.SenderTxBufKernel reports
	// it and the transport logs the cut once. Set -1 for the operating
	// system's default, for example on links whose bandwidth-delay product exceeds a
	// megabyte.
	DefaultSenderRxBufSize = 25188
	DefaultSenderTxBufSize = 512 << 10
	// DefaultTimeout is Tomcat's sender timeout (ack timeout).
	DefaultTimeout = 3 * time.Second
	// DefaultMaxRetryAttempts is Tomcat's maxRetryAttempts.
	DefaultMaxRetryAttempts = 1
	// DefaultPoolSize is Tomcat's PooledSender poolSize: connections per member.
	DefaultPoolSize = 25
	// DefaultMaxWait is Tomcat's PooledSender maxWait.
	DefaultMaxWait = 3 * time.Second
	// DefaultMaxFrameSize is the largest frame body accepted (no Tomcat equivalent: Java
	// only limits a frame to int32). Fifteen partial frames of this size (and 18 bytes of
	// framing each) fit the default MaxPendingBytes; the sixteenth is refused.
	DefaultMaxFrameSize = 16 << 20
	// DefaultMaxPendingBytes is the receiver-wide budget for bytes of partly received frames
	// (no Tomcat equivalent).
	DefaultMaxPendingBytes = 256 << 20
	// DefaultUntrustedShare is the divisor of MaxPendingBytes that gives the default
	// MaxUntrustedPendingBytes: a quarter of the budget (64 MiB of the default 256 MiB).
	DefaultUntrustedShare = 4
	// DefaultMaxPooledBytes is how many bytes of released large-frame buffers the receiver
	// keeps for reuse (no Tomcat equivalent).
	DefaultMaxPooledBytes = 16 << 20
	// DefaultMaxConnections caps the receiver's inbound TCP connections (no Tomcat
	// equivalent).
	DefaultMaxConnections = 4096
	// DefaultMaxConnOutboundBytes caps the ACK bytes queued for one connection whose peer
	// does not read them (no Tomcat equivalent).
	DefaultMaxConnOutboundBytes = 256 << 10
	// DefaultFirstFrameTimeout is how long a new inbound connection may stay silent (no
	// Tomcat equivalent).
	DefaultFirstFrameTimeout = 10 * time.Second
	// DefaultFrameTimeout is how long one frame may take to arrive once it started (no
	// Tomcat equivalent; Tomcat's 3 s sender timeout covers a whole acknowledged send).
	DefaultFrameTimeout = 30 * time.Second
	// MaxUDPSize is the largest frame sent or accepted as one datagram (Tomcat MAX_UDP_SIZE).
	MaxUDPSize = 65535
)

// Engine selects how the TCP receiver serves its inbound connections (no Tomcat
// equivalent). See the package documentation, section "Receiver engines".
type Engine string

const (
	// EngineGnet serves connections on gnet event loops (EventLoops of them) and hands
	// decoded messages to Workers worker goroutines.
	EngineGnet Engine = "gnet"
	// EngineGoroutine serves each connection on a goroutine of its own, blocked on Go's
	// network poller (net.Listener, net.Conn), which decodes its frames and delivers them
	// itself; at most Workers ReceiveFuncs run at once, and MaxQueuedBytes bounds the
	// decoded frames waiting for them. It ignores EventLoops,
	// DeliverOnEventLoop, MaxConnQueueBytes and MaxConnOutboundBytes (New logs a warning
	// naming those set to other than their defaults).
	EngineGoroutine Engine = "goroutine"
	// DefaultEngine is the engine of a Config whose Engine is empty.
	DefaultEngine = EngineGoroutine
)

// ErrEngineUnsupported is wrapped, with channel.ErrInvalidConfig, by New's error for a
// Config whose Engine this system cannot run: EngineGnet needs a Unix-like system (its
// event loops and workers read and write the sockets with Unix system calls), so New
// refuses it on Windows. EngineGoroutine, the default, runs everywhere.
var ErrEngineUnsupported = errors.New("nio: receiver engine not supported on this system")

// Engines returns the receiver engines New accepts on this system (EngineGnet only on
// Unix-like systems), for flags and tests.
func Engines() []Engine {
	if !gnetSupported {
		return []Engine{EngineGoroutine}
	}
	return []Engine{EngineGnet, EngineGoroutine}
}

// Config configures a Transport. Unless a field says otherwise, its zero value means the
// default given in its comment, so Config{} is a usable configuration (an "auto" address,
// an ephemeral port). DefaultConfig returns Tomcat's defaults spelled out.
type Config struct {
	// Address is the receiver's bind address (Tomcat: address, default "auto"). An IP
	// literal or a host name, looked up at Start; digits and dots that are no IP address
	// ("127.0.0.300") are refused by New (TestNewRefusesAMistypedIPv4Address). Empty or "auto" resolves like Tomcat: the host name from
	// os.Hostname looked up in DNS (an IPv4 address preferred), falling back to 127.0.0.1.
	// DefaultConfig sets "127.0.0.1", not "auto". A wildcard ("0.0.0.0", "::") binds every
	// interface and then AdvertiseAddress is required, because a wildcard cannot be put in
	// the local member.
	Address string
	// AdvertiseAddress is the host put into the local member, which other nodes dial (no
	// Tomcat equivalent: Tomcat advertises the bind address). IP literal or host name;
	// empty means the bound address.
	AdvertiseAddress string
	// Port is the first TCP port tried (Tomcat: port, 4000 in DefaultConfig). 0 binds an
	// ephemeral port chosen by the kernel.
	Port int
	// AutoBind is how many ports are tried, Port … Port+AutoBind-1, the first free one
	// wins (Tomcat: autoBind, default 100). 1 tries Port only. Ignored for an ephemeral
	// Port. Applies to UDPPort as well.
	AutoBind int

	// Engine is the TCP receiver's engine: EngineGnet or EngineGoroutine. Empty means
	// DefaultEngine (EngineGoroutine). No Tomcat equivalent.
	Engine Engine

	// UDP enables the UDP receiver (Tomcat: udpPort > 0 enables it; off by default).
	UDP bool
	// UDPPort is the first UDP port tried when UDP is on (Tomcat: udpPort). 0 binds an
	// ephemeral port.
	UDPPort int

	// MaxFrameSize caps a frame's body in bytes (no Tomcat equivalent: Java only limits a
	// frame to int32). Larger frames close the connection and are reported lost to the
	// channel with their sender (channel.LossListener); senders refuse them with
	// channel.ErrMessageTooLarge. Default DefaultMaxFrameSize (16 MiB). Send larger
	// messages through the fragmentation interceptor rather than raising it: every
	// connection may hold a frame this large. Raise it above the largest message a Java
	// node sends that the fragmentation interceptor does not cut, such as a Tomcat
	// DeltaManager's transfer of every session in one message (sendAllSessions="true").
	MaxFrameSize int
	// MaxPendingBytes is the receiver-wide budget for bytes of frames not yet complete: the
	// buffers of large frames (reserved whole when such a frame starts on a connection that
	// carried a member's frame; on other ones 64 KiB or twice what arrived, then the whole
	// frame once more arrived) and the bytes
	// buffered on connections but not decoded yet (no Tomcat equivalent; default
	// DefaultMaxPendingBytes, 256 MiB). A frame that does not fit is refused and its
	// connection closed (Stats.FramesRefused), and so is a connection whose buffered bytes
	// (a member's small frame as well as a stranger's) grow while these pass it, and on
	// EngineGnet one buffering more than 32 KiB while these and the decoded bytes waiting
	// for workers (Stats.QueuedBytes) pass it. It must hold one frame of MaxFrameSize; zero
	// means the larger of the default and that.
	MaxPendingBytes int
	// MaxUntrustedPendingBytes is the part of MaxPendingBytes that the partly received
	// frames of strangers may hold together: frames on connections that have not carried
	// a member's frame yet (any complete frame when the channel gives no sender check,
	// Transport.SetSenderCheck) whose header does not name a member (or has not named
	// one within 4 KiB: a member is named by its identity, before its payload; the bytes
	// of a header still arriving wait in the connection's read buffer, not in this
	// share), large ones from when their buffer is reserved, small
	// ones (under 32 KiB) as their bytes wait in the connection's buffer. Beyond it such
	// a frame is refused and its connection closed (Stats.FramesRefused), so that however
	// many connections strangers open, members keep the rest of the budget. No Tomcat equivalent; zero means MaxPendingBytes /
	// DefaultUntrustedShare (64 MiB of the default budget); it must not exceed
	// MaxPendingBytes.
	MaxUntrustedPendingBytes int
	// MaxPooledBytes bounds the buffers of large frames (32 KiB and more) that the receiver
	// keeps for the next ones once the application released their messages
	// (channel.Message.Release): the next large frame is read into such a buffer instead of
	// new memory. No Tomcat equivalent; default DefaultMaxPooledBytes (16 MiB); negative
	// keeps none. Messages not released are garbage-collected as before.
	MaxPooledBytes int
	// MaxConnections caps the inbound TCP connections; a connection beyond it is closed as
	// soon as it is accepted (Stats.ConnsRefused). No Tomcat equivalent; default
	// DefaultMaxConnections (4096).
	MaxConnections int
	// MaxConnOutboundBytes caps the bytes (ACKs) waiting to be written to one connection.
	// At the cap the receiver stops decoding that connection's frames, so no more ACKs are
	// queued, until its peer reads; a connection that stays at the cap for FrameTimeout is
	// closed (Stats.ConnsStalled). No Tomcat equivalent; default 256 KiB. EngineGnet only
	// (EngineGoroutine: the socket buffers bound them).
	MaxConnOutboundBytes int
	// FirstFrameTimeout closes an inbound connection that sent no byte within this time
	// after it was accepted (Stats.ConnsTimedOut). No Tomcat equivalent; default 10 s;
	// negative disables it. Idle connections that carried a member's frame are left open,
	// as senders pool them; when the channel checks senders (SetSenderCheck), one whose
	// frames all came from non-members is closed once no frame arrived on it for this time
	// (Stats.ConnsNonMember).
	FirstFrameTimeout time.Duration
	// FrameTimeout closes an inbound connection whose frame, once started, is not complete
	// within this time (Stats.ConnsTimedOut). No Tomcat equivalent; default 30 s;
	// negative disables it.
	FrameTimeout time.Duration
	// EventLoops is the number of gnet event loops of the receiver (Tomcat has one
	// selector thread). Default runtime.GOMAXPROCS(0). EngineGnet only: EngineGoroutine,
	// the default engine, serves each connection on a goroutine of its own and ignores it
	// (New logs a warning when it is set to other than its default there, as for the other
	// fields only EngineGnet uses).
	EventLoops int
	// Workers is the number of goroutines that hand received messages to the channel
	// (Tomcat: maxThreads, default 15). With EngineGoroutine it is the most ReceiveFuncs
	// that run at once, on the connections' goroutines.
	Workers int
	// DeliverOnEventLoop runs the ReceiveFunc of TCP messages on the event loop that
	// decoded them, and writes their ACKs from there, instead of handing them to a worker
	// (no Tomcat equivalent; default false). It saves the hand-off to a worker and its
	// wake-up, about half of a synchronized-ack round trip's scheduling, and a
	// connection's unread bytes stay in the socket (TCP flow control slows its sender)
	// instead of queueing. Use it only when the channel's interceptors and listeners return
	// quickly and never wait for a message to this node: while one runs, every connection
	// of its event loop waits (EventLoops of them), and a listener waiting for a reply to
	// arrive here (an RPC call made from a listener) can deadlock until its timeout.
	// Workers then serve only the frames a closing connection leaves behind. EngineGnet
	// only: EngineGoroutine always delivers on the connection's own goroutine.
	DeliverOnEventLoop bool
	// MaxConnQueueBytes bounds the decoded bytes of one connection that wait for a worker
	// (no Tomcat equivalent; default 4 MiB). Beyond it the receiver stops decoding that
	// connection until a worker drained it; a paused connection that buffers more than
	// this again (plus one read of 256 KiB) is closed (Stats.ConnsOverflowed). See the
	// package documentation. EngineGnet only: EngineGoroutine bounds the decoded frames of
	// all its connections with MaxQueuedBytes.
	MaxConnQueueBytes int
	// MaxQueuedBytes bounds the decoded frames of all connections together that wait for
	// one of the Workers slots (Stats.QueuedBytes; no Tomcat equivalent; default
	// DefaultMaxQueuedBytes, 16 MiB). A connection whose next frame does not fit delivers
	// what it decoded first; with nothing decoded it waits, neither decoding nor reading,
	// until deliveries make room, so TCP slows its peer down and nothing is dropped while
	// the receiver runs but a frame asking for an ACK whose peer closed the connection
	// meanwhile (Stats.FramesAbandoned; Stop drops what is not delivered once its context
	// ends). A frame
	// is taken alone when nothing is queued, whatever its size: the budget is passed only
	// so. A frame of 32 KiB or more starts once its size fits but counts once complete
	// (within MaxPendingBytes while it arrives); if others took the room meanwhile it then
	// waits for room as a small frame does, still counted in MaxPendingBytes.
	// EngineGoroutine only: EngineGnet bounds each connection's queue with
	// MaxConnQueueBytes.
	MaxQueuedBytes int

	// RxBufSize and TxBufSize are the receiver's SO_RCVBUF / SO_SNDBUF (Tomcat rxBufSize
	// 65536, txBufSize 25188; defaults here DefaultRxBufSize, the OS's, and 25188).
	// Negative leaves the operating system's default (and, on Linux, its buffer
	// auto-tuning); New refuses one above 2147483647, which setsockopt's C int would cut
	// (TestNewRefusesSocketBufferSizesPastCInt). Linux cuts an RxBufSize above
	// net.core.rmem_max, and a TxBufSize above net.core.wmem_max, to it with no error
	// (stock kernels default both to about 208 KiB, 212992 bytes on x86-64); Stats.RxBufKernel and TxBufKernel report what the kernel
	// kept, and the transport logs a warning once when it kept less than was set
	// (TestSocketBuffersCutAreReported).
	RxBufSize, TxBufSize int
	// SenderRxBufSize and SenderTxBufSize are the sender sockets' SO_RCVBUF / SO_SNDBUF
	// (Tomcat sender rxBufSize 25188, txBufSize 65536; defaults here 25188 and
	// DefaultSenderTxBufSize, 512 KiB). Negative leaves the OS default; above 2147483647
	// New refuses one, as RxBufSize (TestNewRefusesSocketBufferSizesPastCInt). Linux cuts a
	// SenderTxBufSize above net.core.wmem_max to it with no error, and a SenderRxBufSize
	// above net.core.rmem_max likewise; stock kernels default both to about 208 KiB (212992
	// bytes on x86-64), below the 512 KiB default, which then gives that send buffer
	// (TestSenderSocketBuffers). Stats.SenderRxBufKernel and SenderTxBufKernel report what
	// the kernel kept (getsockopt: twice the size on Linux), read after each connect, and
	// the transport logs a warning once when it kept less than was set
	// (TestSocketBuffersCutAreReported).
	SenderRxBufSize, SenderTxBufSize int
	// DisableTCPNoDelay turns Nagle's algorithm on for the receiver's and the sender's
	// sockets. The zero value keeps TCP_NODELAY on, as Tomcat's tcpNoDelay=true.
	DisableTCPNoDelay bool

	// Timeout is the sender's ack timeout: a whole Send, to every destination, including
	// connecting, writing and waiting for ACKs, must finish within it (Tomcat: timeout,
	// default 3 s). A context deadline that comes earlier wins.
	Timeout time.Duration
	// DialTimeout bounds opening one connection (no Tomcat equivalent; Tomcat bounds it by
	// timeout). Default Timeout.
	DialTimeout time.Duration
	// MaxRetryAttempts is how many extra attempts a destination gets, each on a fresh
	// connection, after a connect failure, an I/O error, EOF or FAIL_ACK (Tomcat:
	// maxRetryAttempts, default 1). An ack timeout is not retried. Negative means no retry.
	MaxRetryAttempts int
	// PoolSize is the maximum number of connections to one member (Tomcat: poolSize,
	// default 25). Each carries one message at a time.
	PoolSize int
	// MaxWait is how long a Send waits for a pooled connection when all PoolSize are busy
	// (Tomcat: maxWait, default 3 s).
	MaxWait time.Duration
	// KeepAliveCount closes a connection after it carried this many messages; the next
	// send reopens one (Tomcat: keepAliveCount, default -1 = unlimited). Zero or negative
	// means unlimited.
	KeepAliveCount int
	// KeepAliveTime closes a connection this long after it was opened (Tomcat:
	// keepAliveTime, default -1 = unlimited). Checked after each send and on Heartbeat.
	// Zero or negative means unlimited.
	KeepAliveTime time.Duration
	// IgnoreFailedAck treats a FAIL_ACK as success (Tomcat: throwOnFailedAck, default true,
	// i.e. IgnoreFailedAck false: a FAIL_ACK is an error wrapping channel.ErrAckFailed and
	// is retried).
	IgnoreFailedAck bool

	// Logger receives the transport's logs (bind, connection errors, rejected frames).
	// Nil discards them. gnet's own logs are routed here too (its warnings and errors
	// rate-limited per message format).
	Logger *slog.Logger
}

// DefaultConfig returns Tomcat's defaults, except that Address is "127.0.0.1" rather
// than "auto".
func DefaultConfig() Config {
	return Config{
		Address:              "127.0.0.1",
		Engine:               DefaultEngine,
		Port:                 DefaultPort,
		AutoBind:             DefaultAutoBind,
		MaxFrameSize:         DefaultMaxFrameSize,
		EventLoops:           runtime.GOMAXPROCS(0),
		Workers:              DefaultWorkers,
		MaxConnQueueBytes:    DefaultMaxConnQueueBytes,
		MaxQueuedBytes:       DefaultMaxQueuedBytes,
		MaxPooledBytes:       DefaultMaxPooledBytes,
		MaxConnections:       DefaultMaxConnections,
		MaxConnOutboundBytes: DefaultMaxConnOutboundBytes,
		FirstFrameTimeout:    DefaultFirstFrameTimeout,
		FrameTimeout:         DefaultFrameTimeout,
		RxBufSize:            DefaultRxBufSize,
		TxBufSize:            DefaultTxBufSize,
		SenderRxBufSize:      DefaultSenderRxBufSize,
		SenderTxBufSize:      DefaultSenderTxBufSize,
		Timeout:              DefaultTimeout,
		DialTimeout:          DefaultTimeout,
		MaxRetryAttempts:     DefaultMaxRetryAttempts,
		PoolSize:             DefaultPoolSize,
		MaxWait:              DefaultMaxWait,
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: nio: %s", channel.ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// ignoredByEngine names the fields of a normalized c that its engine ignores and that are
// set to other than their defaults (New warns of them): EngineGoroutine's are EventLoops,
// DeliverOnEventLoop, MaxConnQueueBytes and MaxConnOutboundBytes.
func (c Config) ignoredByEngine() []string {
	if c.Engine != EngineGoroutine {
		return nil
	}
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"EventLoops", c.EventLoops != runtime.GOMAXPROCS(0)},
		{"DeliverOnEventLoop", c.DeliverOnEventLoop},
		{"MaxConnQueueBytes", c.MaxConnQueueBytes != DefaultMaxConnQueueBytes},
		{"MaxConnOutboundBytes", c.MaxConnOutboundBytes != DefaultMaxConnOutboundBytes},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return names
}

// normalize validates c and fills its zero fields with defaults.
func (c Config) normalize() (Config, error) {
	if c.Port < 0 || c.Port > math.MaxUint16 {
		return c, invalid("port %d out of range", c.Port)
	}
	if c.UDPPort < 0 || c.UDPPort > math.MaxUint16 {
		return c, invalid("udp port %d out of range", c.UDPPort)
	}
	switch c.Engine {
	case "":
		c.Engine = DefaultEngine
	case EngineGnet, EngineGoroutine:
	default:
		return c, invalid("unknown receiver engine %q (want %q or %q)", c.Engine, EngineGnet, EngineGoroutine)
	}
	if c.Engine == EngineGnet && !gnetSupported {
		return c, fmt.Errorf("%w: %w: %q on %s (use %q)", channel.ErrInvalidConfig, ErrEngineUnsupported, c.Engine, runtime.GOOS, EngineGoroutine)
	}
	if c.AutoBind < 0 {
		return c, invalid("negative autobind %d", c.AutoBind)
	}
	if c.AutoBind == 0 {
		c.AutoBind = DefaultAutoBind
	}
	if c.MaxFrameSize < 0 || c.MaxFrameSize > math.MaxInt32 {
		return c, invalid("max frame size %d out of range", c.MaxFrameSize)
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxFrameSize < 64 {
		return c, invalid("max frame size %d below 64 bytes", c.MaxFrameSize)
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"event loops", &c.EventLoops, runtime.GOMAXPROCS(0)},
		{"workers", &c.Workers, DefaultWorkers},
		{"max connection queue bytes", &c.MaxConnQueueBytes, DefaultMaxConnQueueBytes},
		{"max queued bytes", &c.MaxQueuedBytes, DefaultMaxQueuedBytes},
		{"max connections", &c.MaxConnections, DefaultMaxConnections},
		{"max connection outbound bytes", &c.MaxConnOutboundBytes, DefaultMaxConnOutboundBytes},
		{"pool size", &c.PoolSize, DefaultPoolSize},
	} {
		if *f.v < 0 {
			return c, invalid("negative %s %d", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&c.MaxPooledBytes, DefaultMaxPooledBytes},
		{&c.RxBufSize, DefaultRxBufSize}, {&c.TxBufSize, DefaultTxBufSize},
		{&c.SenderRxBufSize, DefaultSenderRxBufSize}, {&c.SenderTxBufSize, DefaultSenderTxBufSize},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	// setsockopt takes a C int: a larger size would be cut to 32 bits with no error.
	if max(c.RxBufSize, c.TxBufSize, c.SenderRxBufSize, c.SenderTxBufSize) > math.MaxInt32 {
		return c, invalid("a socket buffer size above %d", math.MaxInt32)
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"timeout", &c.Timeout, DefaultTimeout},
		{"max wait", &c.MaxWait, DefaultMaxWait},
		{"dial timeout", &c.DialTimeout, 0},
	} {
		if *f.v < 0 {
			return c, invalid("negative %s %v", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = c.Timeout
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = max(DefaultMaxPendingBytes, wire.FrameLen(c.MaxFrameSize))
	}
	if c.MaxPendingBytes < wire.FrameLen(c.MaxFrameSize) {
		return c, invalid("max pending bytes %d below one frame of MaxFrameSize %d", c.MaxPendingBytes, c.MaxFrameSize)
	}
	if c.MaxUntrustedPendingBytes == 0 {
		c.MaxUntrustedPendingBytes = c.MaxPendingBytes / DefaultUntrustedShare
	}
	if c.MaxUntrustedPendingBytes < 0 || c.MaxUntrustedPendingBytes > c.MaxPendingBytes {
		return c, invalid("max untrusted pending bytes %d not within 0 and MaxPendingBytes %d", c.MaxUntrustedPendingBytes, c.MaxPendingBytes)
	}
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.FirstFrameTimeout, DefaultFirstFrameTimeout}, {&c.FrameTimeout, DefaultFrameTimeout}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MaxRetryAttempts == 0 {
		c.MaxRetryAttempts = DefaultMaxRetryAttempts
	} else if c.MaxRetryAttempts < 0 {
		c.MaxRetryAttempts = 0
	}
	if c.KeepAliveCount < 0 {
		c.KeepAliveCount = 0
	}
	if c.KeepAliveTime < 0 {
		c.KeepAliveTime = 0
	}
	bind, err := parseHost(c.Address)
	if err != nil {
		return c, invalid("address: %v", err)
	}
	adv, err := parseHost(c.AdvertiseAddress)
	if err != nil {
		return c, invalid("advertise address: %v", err)
	}
	if bind.ip.IsValid() && bind.ip.IsUnspecified() && adv.auto {
		return c, invalid("wildcard bind address %s needs an AdvertiseAddress", c.Address)
	}
	if adv.ip.IsValid() && adv.ip.IsUnspecified() {
		return c, invalid("advertise address %s is a wildcard", c.AdvertiseAddress)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// hostSpec is a parsed Address or AdvertiseAddress: "auto", an IP or a name to resolve.
type hostSpec struct {
	auto bool
	ip   netip.Addr
	name string
}

func parseHost(s string) (hostSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "auto") {
		return hostSpec{auto: true}, nil
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	ip, err := netip.ParseAddr(s)
	if err == nil {
		if ip.Zone() != "" {
			return hostSpec{}, fmt.Errorf("%q: zoned addresses are not supported", s)
		}
		return hostSpec{ip: ip.Unmap()}, nil
	}
	if strings.Trim(s, "0123456789.") == "" {
		// A mistyped IPv4 address ("127.0.0.300"), not a host name to look up at Start.
		return hostSpec{}, fmt.Errorf("%q is not an IP address: %v", s, err)
	}
	if strings.ContainsAny(s, " /:") {
		return hostSpec{}, fmt.Errorf("%q is neither an IP address nor a host name", s)
	}
	return hostSpec{name: s}, nil
}

// resolve turns a hostSpec into one address. "auto" follows Tomcat: the local host name's
// address, else 127.0.0.1.
func (h hostSpec) resolve(ctx context.Context) (netip.Addr, error) {
	switch {
	case h.ip.IsValid():
		return h.ip, nil
	case h.auto:
		name, err := os.Hostname()
		if err != nil {
			return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
		}
		if ip, err := lookup(ctx, name); err == nil {
			return ip, nil
		}
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	default:
		return lookup(ctx, h.name)
	}
}

func lookup(ctx context.Context, name string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("nio: resolve %q: %w", name, err)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("nio: resolve %q: no address", name)
	}
	return ips[0].WithZone(""), nil
}
