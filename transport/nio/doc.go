// Package nio is the TCP transport of the Tribes port: a channel.Transport that speaks the
// wire protocol of Apache Tomcat Tribes' NioReceiver and PooledParallelSender, so that Go
// and Java nodes exchange messages.
//
// The receiver has two engines (Config.Engine, section "Receiver engines"): by default
// (EngineGoroutine) it serves each connection on a goroutine of its own; EngineGnet runs
// on gnet event loops (github.com/panjf2000/gnet/v2) and hands decoded messages to a
// bounded pool of worker goroutines. The sender uses pooled net.Conn connections, one message in flight per
// connection, as Java does. An optional UDP receiver and sender implement Tribes'
// SEND_OPTIONS_UDP path.
//
// # Usage
//
// Build a Config (DefaultConfig gives Tomcat's defaults, Config{} works too), call New,
// then Start with channel.SvcReceiver and/or channel.SvcSender. Usually a channel.Channel
// does that, and package node builds the channel with this transport in one call:
//
//	cfg := nio.DefaultConfig()
//	ch, err := node.New(node.Config{Transport: &cfg, Interceptors: "tcpfailure"})
//	...
//	err = ch.Start(ctx, channel.SvcAll)
//
// Start(SvcReceiver) binds the first free port of Port…Port+AutoBind-1 (Port 0: an
// ephemeral port) and returns once it listens; LocalAddress then reports the advertised
// host and the ports, which the channel puts into the local member. Send delivers a
// message to members in parallel and returns nil or a *channel.SendError naming every
// member that failed, with a cause wrapping channel.ErrAckTimeout, channel.ErrAckFailed,
// channel.ErrConnect (with the *net.OpError inside, so errors.Is(err,
// syscall.ECONNREFUSED) works), channel.ErrConnectionLost, channel.ErrMessageTooLarge,
// channel.ErrNotStarted, ErrPoolExhausted or the context's error (a retry that cannot
// connect, or is answered FAIL_ACK, after an earlier attempt lost its connection wraps
// channel.ErrConnectionLost too: the member may hold the message). Stop stops levels;
// stopping a stopped level is a no-op and Start may be called again.
//
// # Sending
//
// A Send encodes the frame once: small payloads are copied into one pooled buffer, large
// ones (over 16 KiB) are written from the caller's slice with writev and never copied. The
// send runs on the caller's goroutine. Each destination borrows a connection from its
// member's pool (at most PoolSize, waiting up to MaxWait), the frame is written to every
// destination and then, with channel.OptUseAck, their replies are read in turn: frames
// until an ACK or FAIL_ACK (other frames are ignored, as Java does; a buffer grown to skip
// a large one is not kept with the pooled connection, TestAckBufferNotRetainedAfterHugeReply).
// In a send to several members, a destination that needs a new connection, or whose socket
// does not take the whole frame at once (and one with a payload over 16 KiB), is connected
// and written to by a goroutine of its own, and the replies are read once every write
// ended: a member whose connect hangs or that does not read holds up no other
// (TestHangingConnectDoesNotFailTheOtherMembers, TestStalledWriteDoesNotFailTheOtherMembers,
// TestStalledWriteOnPooledConnectionsDoesNotFailTheOtherMembers).
// A reply read once the deadline passed (a destination before it did not answer in time)
// still counts if it had arrived, over TCP and UDP alike
// (TestSendToSeveralMembersOneSilent, TestUDPAckArrivedMeanwhileCounts); it is looked for
// in a few reads of what arrived, so a peer that keeps sending other frames cannot hold the
// send past its deadline (TestSendEndsAtItsDeadlineWhenAPeerStreamsNonAckFrames,
// TestUDPAckReadPastTheDeadlineIsBounded). A destination's
// retries follow once its reply was read; a destination whose pool has no free connection
// at once is served after the others. The whole Send, connecting included, must finish by the earlier
// of the context's deadline and Timeout; cancelling the context interrupts blocked I/O. A
// destination whose round trip completed (frame written and, with USE_ACK, its reply
// read) counts as reached even if the context ends before Send returns.
//
// Connect failures, I/O errors, EOF and FAIL_ACK are retried up to MaxRetryAttempts times,
// each on a fresh connection (so a FAIL_ACK can make the receiver process a message twice,
// as with Java); an ack timeout is not retried and its connection is closed. A connection
// that failed is never returned to the pool. A pool never holds more than PoolSize
// connections, idle ones included: a dial when it is full first closes the least recently
// used idle one, such as the one a FAIL_ACK left before its retry
// (TestFailAckRetriesKeepThePoolWithinPoolSize). Connections are closed after KeepAliveCount
// messages or KeepAliveTime; Heartbeat also closes idle connections whose peer closed them.
// An idle connection is checked with one non-blocking peek before reuse when it sat idle
// for more than 100 ms, instead of Java's read after every unacknowledged write.
// When a member disappears the channel calls ForgetMember (channel.MemberForgetter): its
// idle connections are closed and its busy ones when their send ends (or when the sender
// stops, TestStopSenderInterruptsASendToAForgottenMember), and its pools are dropped
// (TestForgottenMembersLeaveNoPool), so a node restarted at the same address is reached on
// new connections, as Java's coordinator removes the member's senders.
//
// # Concurrency
//
// All methods of Transport are safe for concurrent use. The ReceiveFunc runs on the
// connection's goroutine, at most Workers at once (EngineGnet: on worker goroutines,
// Workers of them, never on an event loop unless Config.DeliverOnEventLoop is set):
// messages of one connection are delivered one at a time and in arrival order; messages
// of different connections concurrently. Concurrent Sends to one member use different pooled connections, so their
// relative order is not defined (as in Tribes; use an ordering interceptor if needed).
//
// # Receiver engines
//
// Config.Engine chooses how the TCP receiver serves connections; DefaultEngine (used when
// Engine is empty) is EngineGoroutine (since 2026-12-04: on one acknowledged message at a
// time it did 1.4-1.5x EngineGnet's rate in the runs of docs/benchmarks-history.md, "The goroutine engine on a quiet machine"). Both keep the wire and ACK rules, the limits and the
// Stats counters described here, except where this section says otherwise.
//
// EngineGnet: gnet event loops (EventLoops) read and decode, and Workers worker goroutines
// deliver; what the sections below say about queues, pauses, overflow, waking and
// DeliverOnEventLoop concerns this engine.
//
// EngineGoroutine: a net.Listener's accept loop starts a goroutine per connection, which
// blocks on Go's network poller. It reads (into a buffer of 4 KiB that grows to 64 KiB
// while reads fill it; a large frame's bytes, once its header is read, straight into the
// frame's own buffer as far as the socket holds them, and, while a large frame is read and
// after one, at most 4 KiB a read into that buffer, so that no more than that is copied out
// of it into the frame's buffer at a time: TestGoroutineLargeFramesCopyLittle), decodes
// every complete frame read, then delivers them in order on
// the same goroutine, writing their ACKs itself (USE_ACK without SYNC right before the
// delivery, a run of them with one write; with SYNC after it), and only then reads again.
// So a connection's messages are delivered one at a time and in order, different
// connections' concurrently, and a slow application leaves the peer's bytes in the socket,
// where TCP slows the peer down: nothing overflows (Stats.ConnsOverflowed stays 0). A
// semaphore of Workers slots bounds the ReceiveFuncs running at once; the decoded frames
// waiting for a slot (Stats.QueuedBytes), all connections together, are bounded by
// Config.MaxQueuedBytes (16 MiB; passed only by a frame let in alone, nothing else
// queued; a frame of 32 KiB or more starts once its size fits and counts once complete,
// waiting then, still in MaxPendingBytes, if others took the room meanwhile:
// TestGoroutineLargeFramesWithinTheQueueBudget): a connection whose next frame does not
// fit delivers what it decoded first, and with nothing decoded waits (Stats.ReadPauses),
// neither decoding nor reading, until deliveries make room, so that TCP slows its peer
// down and no frame is dropped while the receiver runs but one asking for an ACK whose
// peer closed meanwhile (TestGoroutineQueuedBytesWithinTheBudget; Stop drops some, and
// see below). It saves
// gnet's hand-off from event loop to worker and back, which on a synchronous round trip
// (one acknowledged message at a time) costs a goroutine wake-up each way. On Linux its
// reads (a large frame's rest included) and its ACK writes, like the sender's writes of
// frames (a large payload's writev included) and its ACK reads, are raw system calls
// made through syscall.RawConn (the poller still waits and deadlines still apply): a
// net.Conn call enters the runtime's system call path, which, when the process was idle
// between two round trips, first wakes the runtime's sleeping sysmon thread, and whose
// calls that copy a large frame for longer than 20 µs let sysmon hand the goroutine's
// processor to another thread. It ignores
// EventLoops, DeliverOnEventLoop, MaxConnQueueBytes and MaxConnOutboundBytes (New logs a
// warning naming those set to other than their defaults:
// TestNewWarnsOfSettingsTheEngineIgnores), and differs in these points:
//
//   - Deadlines: one sweeper goroutine closes connections past FirstFrameTimeout or
//     FrameTimeout, reading per-connection timestamps of a clock it advances each tick
//     (a quarter of the shorter timeout, at most 1 s): no system call per frame. A blocked
//     ACK write (the peer does not read its ACKs, and the socket buffers are full) stops
//     the goroutine, so nothing more is read or decoded. It is stamped with the time it
//     blocked, when the socket did not take it at once; blocked for longer than a tick it
//     counts in Stats.AckPauses, and for FrameTimeout it closes the connection
//     (Stats.ConnsStalled). A write the socket takes at once is never counted, however
//     late its goroutine runs (TestAckWriteHeldOverTicksIsNoPause). Unread ACKs are
//     bounded by the socket buffers (TxBufSize and the peer's) instead of
//     MaxConnOutboundBytes.
//   - Budget: frames of 32 KiB or more are reserved in MaxPendingBytes as with gnet; the
//     bytes of a smaller partial frame are counted in Stats.PendingBytes as they arrive,
//     until it is complete and queued (then in QueuedBytes only, as with gnet:
//     TestSmallFrameInPiecesLeavesPendingBytesOnceQueued), and a connection whose bytes
//     take it past MaxPendingBytes is refused
//     (Stats.FramesRefused), as with gnet (TestMembersPartialSmallFramesWithinTheBudget;
//     before, they were bounded only by the connection's buffer). A frame above
//     MaxFrameSize whose header before the message (its sender member) does not fit that
//     buffer is rejected as invalid (Stats.FramesRejected) without a loss report.
//   - Accept failures do not stop the listener. Exhaustion (EMFILE, ENFILE, ENOBUFS,
//     ENOMEM): the first failure of a run is counted (Stats.ReceiverFailures), logged
//     rate-limited (TestAcceptExhaustionRunsLogBounded; the end of a run whose failure
//     was logged is logged too, so that the last line never says a receiver that
//     recovered cannot accept: TestAcceptExhaustionLastLineIsTheState) and reported (an
//     error wrapping channel.ErrReceiverFailed). Each pending connection is then accepted
//     on a descriptor the receiver holds in reserve and closed at once
//     (Stats.ConnsRefused), so that peers learn at once instead of waiting in the kernel's
//     backlog (also while the receiver waits for the run to end:
//     TestReceiverShedsWhileItWaitsForTheRunToEnd); Linux fails accept on a full table
//     whether or not a connection is pending, so that accept on the reserve waits 5 ms at
//     most for one (TestShedWaitsBriefly). Without that reserve, or when no connection
//     came, accept is retried after 5 ms, doubling up to 1 s, as net/http does.
//     A reserve that could not be taken (descriptors ran out when the receiver started,
//     or another goroutine took the one freed for a shed) is taken at the next accept
//     that works (TestReceiverRetakesItsSpareDescriptor). The run ends once a descriptor
//     can be opened beside the reserve: checked at each accept that works and, while no
//     connection arrives, every 500 ms, so that the recovery is reported without waiting
//     for the next peer to connect (TestReceiverReportsTheRecoveryWithoutANewConnection);
//     a run in which socket memory ran out (ENOBUFS, ENOMEM), which a descriptor says
//     nothing about, ends only at an accept that works
//     (TestAcceptMemoryRunEndsOnlyAtAnAccept). The end is counted in
//     Stats.ReceiverRestarts and reported as the recovery (nil). A Stop while the
//     receiver waits for a run to end returns and leaves no goroutine
//     (TestStopWhileTheAcceptLoopWaitsForTheRunToEnd). Any other accept error (ECONNABORTED, EPERM from a firewall rule, ETIMEDOUT) concerns one
//     pending connection: it is counted in Stats.AcceptErrors, logged rate-limited and
//     accept retried after the back-off, without shedding a connection or reporting a
//     failure (TestAcceptErrorClassified).
//   - Stop closes the listener and every connection; each goroutine finishes the frames
//     it had decoded (their ACKs fail on the closed socket) and exits, and Stop joins
//     them. If ctx ends first, what is not delivered yet is dropped, frames acknowledged
//     already included (USE_ACK without SYNC is acknowledged right before its delivery, a
//     run of them with one write: TestStopDropsAcknowledgedFramesNotYetDelivered), and
//     Stop returns the context's error; a running ReceiveFunc finishes in the background.
//   - At EOF every complete frame was delivered already, before the read that found the
//     end, and its ACK written (it fails if the peer closed both directions); a trailing
//     partial frame is dropped and reported lost as with gnet.
//   - A frame that waited for its turn (its connection for MaxQueuedBytes room, reading
//     nothing, or a synchronized-ack frame for one of the Workers slots) and asks for an
//     ACK is dropped, neither delivered nor acknowledged, if its peer closed the connection
//     (or shut down its sending side) meanwhile, as far as the socket tells on Linux
//     (Stats.FramesAbandoned): its sender gave up on it and may send it again. A frame
//     without ACK is delivered: its sender took it for sent
//     (TestGoroutineAckFramesOfAClosedPeerDropped); once one is dropped so, those asking
//     for an ACK decoded after it with it are dropped too, without asking the socket again
//     (TestGoroutineAckFramesAfterAnAbandonedOneDropped). So is one asking for an ACK
//     whose connection the receiver closed itself before the frame's turn (the sweeper:
//     unread ACKs, FrameTimeout), on any system, as with gnet
//     (TestGoroutineAckFrameOfAConnectionTheReceiverClosedDropped). Java Tribes delivers
//     them all (NioReplicationTask). The socket is asked only about a frame that waited; gnet,
//     which learns of the close when it reads it, drops any such frame whose turn comes
//     after (see EOF below).
//   - The socket buffers (RxBufSize, TxBufSize) are set on the listener, which accepted
//     connections inherit.
//
// Each idle pooled connection holds a goroutine (a few KiB of stack) and a read buffer of
// 4 KiB, and no more: on Linux a buffer that grew is given back while the connection
// waits for data, inside the read that waits (no system call of its own), and before an
// ACK write waits for a peer that does not read (it was kept for as long, up to
// FrameTimeout: TestGoroutineBufferGivenBackWhileAnAckWriteWaits), or cut to 4 KiB
// when it holds fewer than 4 KiB of a frame; a connection holding more of a frame moves
// those bytes to a pooled buffer of at most twice their size (8, 16 or 32 KiB), so that
// waiting connections hold at most twice the bytes MaxPendingBytes counts, and strangers'
// at most twice their share (TestGoroutinePartialFrameBufferBoundedByItsBytes: with
// 5 000 bytes of a frame waiting after a burst, the heap grew by 61 KiB per connection,
// kept until the frame completed or FrameTimeout; now by 5.5 KiB). (One connection held
// up to 64 KiB for as long as it was open, MaxConnections of them 256 MiB counted in no
// budget: TestIdleGoroutineConnectionGivesBackItsReadBuffer; on other systems it still
// keeps what it grew to.) And the array of a read's decoded frames is
// kept for reuse only up to 256 of them (TestGoroutineConnectionReleasesItsBatchArray).
//
// # Buffering and backpressure (EngineGnet)
//
// gnet has no way to pause reading a connection, so the receiver bounds memory itself:
//
//   - Each connection has a queue of decoded messages waiting for a worker. When it holds
//     MaxConnQueueBytes or more (frame bytes), the event loop stops decoding that
//     connection: new bytes stay in gnet's inbound buffer. The worker that drains the queue
//     below the limit wakes the connection (gnet Conn.Wake) and decoding resumes. When a
//     connection pauses, the event loop first waits up to 20 ms for the worker to drain its
//     queue, the peer's bytes staying in the socket (TCP slows the peer down) meanwhile:
//     a peer streaming large frames would otherwise fill gnet's buffer within
//     milliseconds of a worker's being descheduled, and be cut off (next item). It waits
//     once per pause, so a slow application holds the loop's other connections at most
//     that long each time its queue fills. With
//     USE_ACK senders this never triggers, since a sender waits for each ACK. Once
//     drained, a queue keeps arrays for at most 256 messages for reuse: what a burst grew
//     is not held for the connection's life (TestDrainedQueueReleasesItsArrays).
//   - gnet keeps reading a paused connection into its buffer (it has no way to stop
//     reading one). If that buffer grows beyond MaxConnQueueBytes plus one read (256 KiB),
//     the connection is closed, an error is logged rate-limited and Stats.ConnsOverflowed
//     counts it. So a paused connection holds at most about twice MaxConnQueueBytes
//     (its queue and its buffer) in bytes; in memory more, since gnet rounds the buffer's
//     capacity up to a power of two (8 MiB for the defaults) and decoded messages take
//     more than their frame bytes: TestPausedConnectionsBounded bounds four such
//     connections' heap at 4 x 20.25 MiB with the defaults (ring, the half-size ring it
//     grew out of, twice the queue, the unread ACKs). A peer that streams more than
//     twice MaxConnQueueBytes while its connection is paused (its application or the
//     receiver's is too slow) is cut off.
//     Only a paused connection buffers more than one small frame: one that is not paused
//     decodes whatever is complete, and assembles large frames (below) as they arrive.
//   - With Config.DeliverOnEventLoop nothing queues: the event loop delivers each frame
//     as it decodes it and reads the socket again only afterwards, so a slow application
//     leaves the peer's bytes in the socket buffers and TCP slows the peer down; no
//     connection is paused or cut off for streaming ahead of it.
//   - A frame announcing more than MaxFrameSize bytes, a wrong start or end marker, a
//     negative length, or a ChannelData whose inner lengths disagree with the frame closes
//     the connection (counted in Stats.FramesRejected, logged as below); the node stays up.
//     Unlike Java there is no "discard" mode that waits for a marker to reappear.
//   - A frame above MaxFrameSize is refused once the start of its body, the ChannelData
//     header (options, timestamp, id, sender member), has arrived: the connection is
//     closed and the loss is reported to the channel (channel.LossReporter) with the
//     sender the header names and the announced size, the error wrapping
//     channel.ErrMessageTooLarge. A frame whose connection closes before it arrived whole
//     (a sender that gave up after its own timeout) is reported the same way once its
//     header arrived, wrapping channel.ErrConnectionLost. Stats.FramesLost counts both; the
//     channel counts them in Stats.MessagesLost and tells its LossListeners (session/delta
//     fails a state transfer whose donor's message was lost). The sender sees its
//     connection closed (Tomcat retries once, then logs the failure).
//   - Frames are decoded only once all their bytes arrived. Frames of 32 KiB or more are
//     assembled in a buffer of their own, which the message payload then aliases: what gnet
//     read of it is copied there once, and the rest is read from the socket straight into
//     it. That buffer is reserved in a receiver-wide budget of MaxPendingBytes (default
//     256 MiB) that also counts the bytes buffered on connections and not decoded yet:
//     whole, when the frame starts, on a connection that already carried a member's frame
//     (any complete frame when the channel gives no sender check, SetSenderCheck); on
//     other connections twice what arrived when the frame starts (at least 64 KiB), and
//     the whole frame once more than that arrived, so that headers announcing large
//     frames cannot spend the budget (TestHeaderOnlyConnectionsDoNotSpendTheBudget,
//     TestDecoderUntrustedReservesAsBytesArrive). On such a connection a frame starts
//     once its ChannelData header (which names the sender) is complete, or, for a longer
//     header, once the sender member's identity (host, port, unique id, which come
//     before its payload) arrived: until then its bytes, fewer than 4 KiB, wait in the
//     connection's read buffer, counted as buffered bytes but not in strangers' share; a
//     header naming no member within 4 KiB is a stranger's (with no sender check, a
//     member's). A member's first large frame on a new connection pays one copy of that
//     first part; senders pool connections, so it is paid once. The whole frame is
//     reserved in one step rather than in doublings: each step's buffer, written, would
//     be left to the garbage collector, and the attack suite's partial-100 (100
//     connections sending 8 MiB of 16 MiB frames) made the receiver's RSS reach 757 MiB
//     that way, 138 MiB in one step. A frame that does not
//     fit, a connection whose buffered bytes (the start of a small frame, a member's as
//     well) grow while partly received frames pass the budget, or one buffering more than
//     32 KiB while they and the decoded bytes queued for workers (Stats.QueuedBytes) pass
//     it, is refused: the connection is closed and Stats.FramesRefused counts it. So partly
//     received frames hold at most MaxPendingBytes, however many connections send them
//     (members' small ones were counted but never refused before:
//     TestMembersPartialSmallFramesWithinTheBudget).
//     Strangers' partial frames (on a connection not trusted, whose header names no
//     member: large ones when their buffer is reserved, small ones while their bytes wait
//     in the connection's buffer) share MaxUntrustedPendingBytes of it, a quarter by
//     default (Stats.UntrustedBytes): beyond it they are refused the same way, so that
//     many connections of up to 64 KiB each cannot spend what members need
//     (TestStrangersShareOfTheBudgetIsBounded, TestStrangersPartialSmallFramesBounded).
//     A member's frame is the member's as soon as its header is complete: its first
//     frame on a new connection, whose header arrives in pieces, is neither refused nor
//     charged to strangers while their share is spent
//     (TestMemberFrameWithSplitHeaderIsNotAStrangers; through the receiver on both
//     engines, TestMemberFirstFrameWithSplitHeaderThroughTheReceiver); so is one whose
//     header is longer than 4 KiB (a member advertising a payload of some KiB), named by
//     its identity before its payload arrived (TestMemberWithALongHeaderNotRefusedAsAStranger:
//     before, it was a stranger's until its header was complete, and refused while
//     their share was spent); a header whose identity itself passes 4 KiB (a domain of
//     some KiB) leaves strangers' share once complete
//     (TestMemberFrameCountedAsMemberOnceItsHeaderCompletes); a stranger's split header
//     is charged once complete, or at 4 KiB
//     (TestStrangerFrameWithSplitHeaderStaysInItsShare).
//   - A ReceiveFunc (or a channel listener) that is done with a large message's Data can
//     call channel.Message.Release: the frame's buffer then goes to a receiver-wide pool
//     of at most MaxPooledBytes (default 16 MiB), and a later large frame is read into it
//     (the smallest free buffer that holds it, at most an eighth larger) instead of into
//     new memory that the runtime zeroes and later collects. A message that is not
//     released keeps its buffer, which is garbage-collected as usual and never reused while
//     referenced. Release must come only after every holder of Data (other listeners,
//     goroutines) is done with it; after it, Data is nil.
//   - While a session manager receives a state transfer (on Linux, with transparent huge
//     pages in "madvise" mode), a new buffer for a frame of 1 MiB or more is advised for
//     huge pages (madvise MADV_HUGEPAGE on the 4 MiB chunks of the heap it spans) before
//     the frame is read into it: the transfer's chunks arrive at the network's rate and
//     stay as the joiner's sessions, and faulting that memory in 4 KiB pages cost more
//     than reading it on a virtual machine. The advice is withdrawn when the transfer
//     ends; GODEBUG=disablethp=1 (the Go runtime's switch) turns it off.
//   - MaxFrameSize defaults to 16 MiB (DefaultMaxFrameSize). Larger messages belong in the
//     fragmentation interceptor (interceptors.Fragmentation), which sends them in pieces;
//     raising MaxFrameSize instead lets every connection reserve that much.
//   - A peer that sends acknowledged frames but does not read its ACKs: once
//     MaxConnOutboundBytes (default 256 KiB) wait to be written to it, its frames are no
//     longer decoded, so no more ACKs are queued (Stats.AckPauses); decoding resumes when
//     it reads, and a connection still stalled after FrameTimeout is closed
//     (Stats.ConnsStalled).
//
// # Hostile connections
//
//   - At most MaxConnections (default 4096) inbound connections are kept; one more is
//     closed as soon as it is accepted (Stats.ConnsRefused).
//   - When the ReceiveFunc refuses a message with channel.ErrNotMember (the channel's
//     sender check), its connection is closed after the FAIL_ACK and the messages it still
//     had queued are dropped (Stats.ConnsNonMember, logged rate-limited), so that a
//     stranger flooding frames gets one delivery per connection. The dropped ones are not
//     acknowledged: on a connection that carried no member's frame, a non-member's USE_ACK
//     frame without SYNC is acknowledged right before its own delivery, never in a run
//     with the frames before or after it, so a stranger gets at most one ACK or FAIL_ACK
//     per connection (TestStrangerGetsNoAckForFramesDroppedAfterTheRefusal,
//     TestStrangerFrameAckedAloneBeforeMembersFrames). On a connection that carried a
//     member's frame, such frames are acknowledged in a run before the frames before them
//     are delivered; those acknowledged when the channel refuses one are still delivered,
//     so that no frame is acknowledged and then dropped
//     (TestAcknowledgedFramesDeliveredAfterARefusal). Workers take
//     connections in FIFO order, each with its whole queue: there is no other per-peer
//     fairness.
//   - Frames that interceptors consume below the channel's sender check (failure-detector
//     probes, a foreign domain's messages) are never refused. When the channel checks
//     senders it gives the transport its check (channel.SenderChecker, SetSenderCheck),
//     and the receiver looks up the sender of each frame on a connection until one is a
//     member's: a connection whose frames all came from non-members is closed once no
//     frame arrived on it for FirstFrameTimeout (Stats.ConnsNonMember, logged
//     rate-limited), so that such connections cannot hold MaxConnections
//     (TestStrangerConnectionThroughAnInterceptorClosedWhenIdle). The frames are still
//     delivered, so a node not listed yet is served; its idle connection is closed and
//     its sender reconnects. A frame being delivered, or waiting for MaxQueuedBytes room
//     (EngineGoroutine), keeps its connection from being idle, so it is never dropped
//     for idling (TestStrangerWaitingForQueueRoomNotIdle). A connection that carried a
//     member's frame is looked up no more.
//   - A connection that sends nothing within FirstFrameTimeout (default 10 s) of being
//     accepted, and one whose frame is not complete FrameTimeout (default 30 s) after it
//     started (slowloris), are closed (Stats.ConnsTimedOut). Idle connections that carried
//     frames stay open: senders pool them.
//   - With EngineGnet: gnet v2 stops its whole engine when accept fails with anything but a transient
//     error, descriptor exhaustion (EMFILE, ENFILE) included. The receiver notices at once:
//     it counts the failure (Stats.ReceiverFailures), logs it, reports an error wrapping
//     channel.ErrReceiverFailed to the channel (channel.Channel.Healthy turns false and
//     channel.HealthListener listeners are told), and restarts the engine on the same
//     port, backing off from 20 ms to 2 s while listening fails or the new engine stops
//     again. Once it listens (descriptors free again) it reports the recovery
//     (Stats.ReceiverRestarts). Inbound connections of the stopped engine are closed; their
//     senders reconnect (a Send in flight fails or is retried as for any lost connection).
//     The stops are logged rate-limited as EngineGoroutine's runs are: a stop whose line was
//     written has its failures to listen again and its restart written too, the lines not
//     written (a stop's, its failures to listen again and its restart) are counted and the
//     counts written at Stop (TestGnetRestartLogBounded); gnet's
//     own warnings and errors, several for each stop, are rate-limited per message format
//     (TestGnetLoggerRateLimited).
//
// On EOF the complete frames still buffered are processed (ACKs can no longer be sent) and
// a trailing partial frame is dropped, as Java does; so short-lived connections carrying
// one frame without ACK, like TcpFailureDetector's probes without its read test, are
// delivered. A frame asking for an ACK not written yet, still buffered or queued for a
// worker when its connection closed, is dropped instead, neither delivered nor
// acknowledged (Stats.FramesAbandoned): its sender gave up on it and may send it again
// (TestAckFramesOfAClosedPeerDropped, TestGnetAckFramesLeftAtCloseDropped; Java Tribes
// delivers it, and so did this engine). One whose connection Stop closed is delivered
// while Stop's context has not ended, as on EngineGoroutine and in Java Tribes
// (TestAckFrameQueuedAtAGracefulStopDelivered).
//
// The UDP receiver reads datagrams on one goroutine and runs the ReceiveFunc there, in
// arrival order; while it runs, datagrams wait in the socket buffer and the kernel drops
// what does not fit.
//
// What a peer can repeat at will (invalid frames, refused, timed-out or stalled
// connections, a panicking ReceiveFunc, bad UDP datagrams) is logged rate-limited per
// remote IP and kind: the first three lines, then only counted, with a summary line of the
// count when the kind recurs after a minute and when the receiver stops. The Stats
// counters count every occurrence.
//
// # Wire compatibility
//
// Frames are Tribes' XByteBuffer packages (FLT2002, length, body, TLF2003) carrying a
// ChannelData; see package wire. ACKs follow NioReplicationTask: USE_ACK without
// SYNCHRONIZED_ACK is acknowledged before processing, USE_ACK with SYNCHRONIZED_ACK
// after the ReceiveFunc returned — ACK for nil, FAIL_ACK for an error or a panic — and
// messages without USE_ACK get nothing. With EngineGoroutine the connection's goroutine
// writes every ACK; with EngineGnet the event loop writes the first kind (when nothing
// else is waiting to be acknowledged on that connection) and the worker the second, to
// the socket itself (through the event loop when the socket is full). One ACK per acknowledged message, in
// frame order, on the same connection (or, for UDP, as a datagram to the source address). Several
// frames and partial frames per read are handled. The message's source is the member in
// the ChannelData, not the TCP peer. The ReceiveFunc returns before a synchronized ACK is
// written; Transport.WaitAcks waits, without polling, until the receiver has written so
// many ACK and FAIL_ACK frames (Stats.AcksSent plus Stats.FailAcksSent), so that a
// receiver can know the ACKs of what it took went out before it stops (TestWaitAcks).
//
// Differences from Java, all on the safe side: frames are limited to MaxFrameSize (Java:
// int32), a corrupt stream is closed rather than buffered, and the SO_TRAFFIC_CLASS,
// SO_LINGER and OOB-inline socket options are left at the operating system's defaults.
//
// # Stopping
//
// Stop(SvcReceiver) on EngineGnet shuts gnet down (without Engine.Stop's 500 ms polling), closes every
// inbound connection, lets the workers finish the messages already queued, complete
// frames a paused connection still held in its buffer included (decoded as it closes:
// TestFramesBufferedAtAGracefulStopDelivered), and joins every goroutine it started; EngineGoroutine closes its listener and connections and joins
// their goroutines, which deliver the frames they decoded, a connection waiting for
// MaxQueuedBytes room included (TestGoroutineQueueWaiterDeliveredOnGracefulStop). If ctx
// ends first, what is still to deliver is dropped, the frames decoded counted in
// Stats.FramesDroppedByStop (TestStopDropsAreCounted; a connection waiting for room gives up:
// TestGoroutineQueueWaiterGivesUpWhenStopsContextEnds) and Stop
// returns an error wrapping the context's error that names what still runs: gnet's engine
// (its event loops slow to close their connections on a loaded machine, or, with
// DeliverOnEventLoop, one held by a ReceiveFunc until it returns), the goroutine engine's
// connections (a ReceiveFunc delivering on one), the UDP loop, or the workers (a
// ReceiveFunc delivering); the rest ends in the background. An engine still stopping
// then may decode more frames until it ends: the workers drop them too, and give their
// bytes back to Stats.QueuedBytes (TestGnetFrameDecodedAfterStopGaveUpReleased). A later
// Stop waits for that receiver to end, or for its own ctx (then returning an error
// wrapping that ctx's error), and so does a Start, which binds no new receiver until the
// old one ended: two never run at once, and a restart on a configured Port listens on it
// again rather than on the next port of the AutoBind range
// (TestLaterStopWaitsForTheReceiver, TestStartAfterATimedOutStopWaits). A Start or Stop
// waiting for another one under way gives up when its own ctx ends
// (TestStopHonoursContextWhileStartWaits). Stop(SvcSender)
// closes every pooled connection, idle or busy: sends in flight fail at once with an error
// wrapping channel.ErrNotStarted.
//
// # Platforms
//
// The package builds on Linux, macOS, FreeBSD and Windows (the test of internal/crossbuild
// builds the module for each); its tests run on Linux. Only Linux makes the raw system
// calls of reads and writes described above, and looks for a peer's close
// (POLLRDHUP) before a waiting frame's delivery; macOS and the BSDs read and write through
// net.Conn. EngineGnet, the peek at an idle pooled connection and the reads of replies
// that arrived by a send's deadline use Unix system calls. On Windows New refuses
// EngineGnet with an error wrapping ErrEngineUnsupported and channel.ErrInvalidConfig
// (TestNewRefusesGnetWhereUnsupported), and Engines leaves it out: EngineGoroutine, the
// default, serves the receiver (gnet itself supports Windows for development only).
// There an idle pooled connection is not peeked at, so one its peer closed fails the next
// send on it that waits for an ACK as a lost connection (retried per MaxRetryAttempts),
// while a send without ACK on it may succeed and its message be lost (nothing tests this
// on Windows): a message whose loss matters is sent with channel.OptUseAck there. Nor are
// bytes a peer wrote unasked on an idle pooled connection seen before its reuse: the next
// send on it that waits for an ACK reads them as the start of its reply (a receiver that
// follows the protocol writes none). A reply that arrived but was not read by the send's
// deadline does not count. No portable check replaces the peek: a read whose deadline has
// already passed reads nothing in Go, the runtime reporting the timeout before it asks
// the system (TestReadPastItsDeadlineReadsNothing), and one with a deadline ahead waits it
// out on every live connection, which the pool's sweep checks under its lock.
package nio
