package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/membership/cloud"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// nodeFlags are the flags every command that runs a node shares.
type nodeFlags struct {
	bind       string
	port       int
	autoBind   int
	id         string
	static     string
	seconds    float64
	ackTimeout time.Duration
	verbose    bool
	strangers  bool

	// staticProtocol: --static runs Tribes' StaticMembershipService protocol
	// (membership/staticsvc) instead of the silent list (membership/static). Its default is
	// the command's: on for node, off for the tools that target nodes directly.
	staticProtocol bool
	channelName    string

	// Transport settings beyond the basics (nio.Config; 0 keeps Tomcat's default).
	advertise      string
	udp            bool
	udpPort        int
	workers        int
	engine         string
	deliverOnLoop  bool
	maxFrameSize   int
	poolSize       int
	maxRetries     int
	keepAliveCount int
	keepAliveTime  time.Duration

	// Multicast membership (instead of --static when --mcast-addr is set) and the stack.
	mcastAddr    string
	mcastPort    int
	mcastBind    string
	ttl          int
	frequency    msDuration
	dropTime     msDuration
	domain       string
	payload      string
	interceptors string

	// Cloud membership (Tomcat's CloudMembershipService) instead of --static.
	cloud        string
	cloudLocalIP string
}

// msDuration is a duration flag that also takes a bare number of milliseconds, as Tomcat's
// attributes (and the Java test peer) do: "--frequency 500" or "--frequency 500ms".
type msDuration time.Duration

func (d *msDuration) String() string { return time.Duration(*d).String() }

func (d *msDuration) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*d = msDuration(time.Duration(n) * time.Millisecond)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = msDuration(v)
	return err
}

func (f *nodeFlags) register(fs *flag.FlagSet, defaultSeconds float64) {
	fs.StringVar(&f.bind, "bind", "127.0.0.1", "address the TCP receiver binds to and advertises")
	fs.IntVar(&f.port, "port", nio.DefaultPort, "first TCP port to try (Tomcat port); 0 = any free port")
	fs.IntVar(&f.autoBind, "autobind", nio.DefaultAutoBind, "how many ports to try from --port (Tomcat autoBind)")
	fs.StringVar(&f.id, "id", "", "local unique id: 32 hex digits, or Tomcat's uniqueId text as in server.xml, quoted: '{-64,1,...}' (random if unset)")
	fs.StringVar(&f.static, "static", "", "static members: host:port:uniqueIdHex, comma separated; the id may be Tomcat's text, host:port:{-64,1,...}")
	fs.BoolVar(&f.staticProtocol, "static-protocol", f.staticProtocol, "static membership speaks Tomcat's StaticMembershipService protocol "+
		"(START/PING/STOP member messages, members expire); false: a silent fixed list")
	fs.StringVar(&f.channelName, "channel-name", staticsvc.DefaultChannelName, "channel name, as the Java nodes' (Tomcat: <clusterName>-Channel); "+
		"the static membership protocol is bound to \"<name>-StaticMembership\"")
	fs.Float64Var(&f.seconds, "seconds", defaultSeconds, "time limit in seconds (0 = none)")
	fs.DurationVar(&f.ackTimeout, "ack-timeout", nio.DefaultTimeout, "how long a send waits for ACKs (Tomcat timeout)")
	fs.BoolVar(&f.verbose, "v", false, "log lifecycle and membership to stderr")
	fs.BoolVar(&f.strangers, "accept-non-members", true, "deliver messages from nodes this one does not list, such as the send, load and rtt commands "+
		"(false drops them: channel.Config.AcceptNonMembers)")
	fs.StringVar(&f.advertise, "advertise", "", "address put in the local member when --bind is a wildcard (default: the bound address)")
	fs.BoolVar(&f.udp, "udp", false, "also open a UDP receiver, for the udp send option (Tomcat udpPort)")
	fs.IntVar(&f.udpPort, "udp-port", 0, "first UDP port to try with --udp (0 = any free port)")
	fs.IntVar(&f.workers, "workers", 0, fmt.Sprintf("receiver worker goroutines (Tomcat maxThreads; 0 = %d)", nio.DefaultWorkers))
	fs.StringVar(&f.engine, "engine", string(nio.DefaultEngine), fmt.Sprintf("TCP receiver engine: %q (event loops and workers) or %q "+
		"(a goroutine per connection; nio.Config.Engine)", nio.EngineGnet, nio.EngineGoroutine))
	fs.BoolVar(&f.deliverOnLoop, "deliver-on-loop", false, "deliver received messages on the receiver's event loops instead of its workers "+
		"(nio.Config.DeliverOnEventLoop: only for listeners that return quickly)")
	fs.IntVar(&f.maxFrameSize, "max-frame-size", 0, "largest message frame accepted, bytes (0 = 16 MiB; Tomcat: none). "+
		"With sessions --codec java it raises the Java streams' limits as well: above Tomcat's message of every session, it receives that")
	fs.IntVar(&f.poolSize, "pool-size", 0, fmt.Sprintf("connections per member (Tomcat poolSize; 0 = %d)", nio.DefaultPoolSize))
	fs.IntVar(&f.maxRetries, "max-retries", 0, fmt.Sprintf("extra attempts after a failed send (Tomcat maxRetryAttempts; 0 = %d, -1 or below = none)", nio.DefaultMaxRetryAttempts))
	fs.IntVar(&f.keepAliveCount, "keepalive-count", 0, "messages per connection before it is reopened (Tomcat keepAliveCount; 0 or negative = unlimited)")
	fs.DurationVar(&f.keepAliveTime, "keepalive-time", 0, "age after which a connection is reopened (Tomcat keepAliveTime; 0 or negative = unlimited)")
	fs.StringVar(&f.mcastAddr, "mcast-addr", "", "multicast group for membership (Tomcat McastService address, e.g. 228.0.0.4); replaces --static")
	fs.StringVar(&f.cloud, "cloud", "", "cloud membership (Tomcat CloudMembershipService): \"kubernetes\" (pods of the namespace, from the API) "+
		"or \"dns\" (addresses of a name), configured by Tomcat's environment variables (KUBERNETES_SERVICE_HOST, KUBERNETES_NAMESPACE, "+
		"DNS_MEMBERSHIP_SERVICE_NAME, ...; see docs/membership.md); every node must use the same --port; replaces --static")
	fs.StringVar(&f.cloudLocalIP, "cloud-local-ip", "", "this node's address as the cloud source lists it (default: the host name's first address, as Tomcat)")
	fs.IntVar(&f.mcastPort, "mcast-port", mcast.DefaultPort, "multicast port (Tomcat port)")
	fs.StringVar(&f.mcastBind, "mcast-bind", "", "address of the interface to send and join the group on (required with --mcast-addr; 127.0.0.1 on one machine)")
	fs.IntVar(&f.ttl, "ttl", 0, "multicast TTL (0 = the system default)")
	f.frequency = msDuration(mcast.DefaultFrequency)
	fs.Var(&f.frequency, "frequency", "heartbeat period, ms or a duration (Tomcat frequency)")
	f.dropTime = msDuration(mcast.DefaultDropTime)
	fs.Var(&f.dropTime, "drop-time", "silence after which a member is dropped, ms or a duration (Tomcat dropTime)")
	fs.StringVar(&f.domain, "domain", "", "cluster domain advertised in the local member")
	fs.StringVar(&f.payload, "payload", "", "payload advertised in the local member, hex")
	fs.StringVar(&f.interceptors, "interceptors", "", "interceptor stack, first = closest to the application, e.g. "+
		"\"ping,tcpfailure(connectTimeout=500),domain,staticmember(members=host:port:id)\" (known: "+strings.Join(interceptors.Names(), ", ")+")")
}

// build creates an unstarted channel from the flags. The interceptors passed in sit on top
// of the --interceptors stack (closer to the application).
func (f *nodeFlags) build(stderr io.Writer, ics ...channel.Interceptor) (*channel.Channel, error) {
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	cfg := node.Config{Interceptors: f.interceptors, Above: ics, Domain: []byte(f.domain), AcceptNonMembers: f.strangers,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	tcfg := nio.DefaultConfig()
	tcfg.Address, tcfg.Port, tcfg.AutoBind = f.bind, f.port, f.autoBind
	tcfg.Timeout = f.ackTimeout
	tcfg.AdvertiseAddress, tcfg.UDP, tcfg.UDPPort = f.advertise, f.udp, f.udpPort
	tcfg.Workers, tcfg.MaxFrameSize, tcfg.PoolSize = f.workers, f.maxFrameSize, f.poolSize
	tcfg.MaxRetryAttempts, tcfg.KeepAliveCount, tcfg.KeepAliveTime = f.maxRetries, f.keepAliveCount, f.keepAliveTime
	tcfg.DeliverOnEventLoop = f.deliverOnLoop
	tcfg.Engine = nio.Engine(f.engine)
	cfg.Transport = &tcfg
	var err error
	if cfg.Multicast, cfg.StaticMembers, err = f.membership(); err != nil {
		return nil, err
	}
	if f.cloud != "" {
		if cfg.Multicast != nil || len(cfg.StaticMembers) > 0 {
			return nil, fmt.Errorf("%w: --cloud excludes --static and --mcast-addr", errUsage)
		}
		cfg.Cloud = &cloud.Config{Provider: f.cloud, LocalIP: f.cloudLocalIP}
	} else if cfg.Multicast == nil && f.staticProtocol {
		cfg.StaticProtocol = &staticsvc.Config{ChannelName: f.channelName}
	}
	if f.id != "" {
		if cfg.UniqueID, err = wire.ParseUniqueID(f.id); err != nil {
			return nil, fmt.Errorf("%w: --id: %v", errUsage, err)
		}
	}
	if cfg.Payload, err = hex.DecodeString(f.payload); err != nil {
		return nil, fmt.Errorf("%w: --payload: %v", errUsage, err)
	}
	ch, err := node.New(cfg)
	if errors.Is(err, channel.ErrInvalidConfig) {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return ch, err
}

// buildServed is build plus the optional --metrics-addr endpoint of mf; stop ends it.
func (f *nodeFlags) buildServed(ctx context.Context, mf *metricsFlag, stderr io.Writer) (ch *channel.Channel, stop func(), err error) {
	if ch, err = f.build(stderr); err != nil {
		return nil, nil, err
	}
	if stop, err = mf.serve(ctx, ch, stderr); err != nil {
		return nil, nil, err
	}
	return ch, stop, nil
}

// membership is multicast with --mcast-addr, else the --static list.
func (f *nodeFlags) membership() (*mcast.Config, []channel.Member, error) {
	if f.mcastAddr == "" {
		members, err := wire.ParseMemberList(f.static)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --static: %v", errUsage, err)
		}
		return nil, members, nil
	}
	if f.static != "" {
		return nil, nil, fmt.Errorf("%w: --static and --mcast-addr exclude each other; add static members to multicast "+
			"with --interceptors staticmember(members=...)", errUsage)
	}
	if f.mcastBind == "" {
		return nil, nil, fmt.Errorf("%w: --mcast-addr needs --mcast-bind, the address of the interface to use "+
			"(multicast is never sent on the default route)", errUsage)
	}
	cfg := mcast.DefaultConfig()
	cfg.Address, cfg.Port, cfg.Bind, cfg.TTL = f.mcastAddr, f.mcastPort, f.mcastBind, f.ttl
	cfg.Frequency, cfg.DropTime = time.Duration(f.frequency), time.Duration(f.dropTime)
	cfg.JoinWait = 0 // Tomcat's wait for the group to answer (2 x frequency at most)
	return &cfg, nil, nil
}

// limit is the time limit of --seconds (see secondsLimit).
func (f *nodeFlags) limit() (time.Duration, error) { return secondsLimit(f.seconds) }

// secondsLimit is the time limit a --seconds value asks for. 0 is none, and so is a limit
// beyond what a time.Duration holds (about 292 years) or +Inf; a negative value or NaN is
// a usage error.
func secondsLimit(s float64) (time.Duration, error) {
	if math.IsNaN(s) || s < 0 {
		return 0, fmt.Errorf("%w: --seconds must be >= 0 (0 = no limit), not %v", errUsage, s)
	}
	if ns := s * float64(time.Second); ns < math.MaxInt64 {
		return time.Duration(ns), nil
	}
	return 0, nil
}

// errTimeLimit is the cause of a context that withLimit ended.
var errTimeLimit = errors.New("the --seconds time limit passed")

// withLimit is ctx ending after limit too (cause errTimeLimit), unless limit is 0 (none).
func withLimit(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	if limit > 0 {
		return context.WithTimeoutCause(ctx, limit, errTimeLimit)
	}
	return context.WithCancel(ctx)
}

// checkSend checks the --size of a command that sends (checkSize) and returns its --seconds
// limit.
func (f *nodeFlags) checkSend(size int) (time.Duration, error) {
	if err := f.checkSize(size); err != nil {
		return 0, err
	}
	return f.limit()
}

// checkSize is a usage error for a --size that no message sent with these flags can have.
// Without --interceptors that is more than a frame of --max-frame-size carries; a stack
// may cut (fragmentation) or compress messages, so with one only the wire's message
// length (a Java int) bounds it.
func (f *nodeFlags) checkSize(size int) error {
	if f.interceptors != "" {
		return checkSize(size, math.MaxInt32)
	}
	return checkSize(size, f.maxFrameSize)
}

// checkSize is a usage error for a --size above the largest message a frame body of
// maxFrame bytes (0: the transport's default) holds after the smallest ChannelData header:
// a 16-byte message id and an IPv4 sender without domain or payload. A message within
// that bound whose header is larger is refused when sent (channel.ErrMessageTooLarge).
func checkSize(size, maxFrame int) error {
	if maxFrame <= 0 {
		maxFrame = nio.DefaultMaxFrameSize
	}
	header := wire.ChannelDataLen(len(channel.NewMessageID()), channel.Member{Host: net.IPv4zero.To4()}.EncodedLen(), 0)
	if size > maxFrame-header {
		return fmt.Errorf("%w: --size %d is above %d, the largest message a %d-byte frame carries after its %d-byte header",
			errUsage, size, maxFrame-header, maxFrame, header)
	}
	return nil
}
