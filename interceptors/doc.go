// Package interceptors holds the channel interceptors of Apache Tomcat Tribes, ported to Go,
// and a registry that builds interceptor stacks from text.
//
// An interceptor is one layer of a channel.Channel's stack: messages pass it on their way
// down to the network (SendMessage) and up to the listeners (MessageReceived), membership
// events pass it upwards, and the channel's heartbeat passes it downwards. The interceptors
// here are Tribes':
//
//	MessageDispatch        asynchronous sends (channel.OptAsync) from a bounded queue
//	Gzip                   gzip compression, option bit 0x0100 (Java-compatible)
//	Zstd, S2               zstd / S2 compression, bits 0x0200 / 0x0400 (Go only)
//	Order                  per-sender ordering with a 4-byte counter trailer
//	Fragmentation          splits messages larger than 100 KiB into pieces
//	Encrypt                AES-GCM (or CBC/CFB/OFB) with Tomcat's replay window
//	TwoPhaseCommit         delivers a message only after its confirmation
//	Throughput             statistics only
//	SimpleCoordinator      coordinator = first member in absolute order, once stable
//	NonBlockingCoordinator Tribes' token-ring leader election
//
// Each registers itself under a lower-case name (dispatch, gzip, zstd, s2, order,
// fragmentation, encrypt, twophasecommit, throughput, simplecoordinator,
// nonblockingcoordinator) with its Tomcat attribute names as properties, so that
//
//	ics, err := interceptors.Build("order,dispatch,gzip(compressionMinSize=512)", logger)
//
// gives the stack to put into channel.Config.Interceptors; the interceptors that log get
// logger. The TCP failure detector, TCP ping, static membership and domain filter
// interceptors live in this package too.
//
// # Usage
//
// Construct an interceptor with its New function and a Config whose zero value is Tomcat's
// default (NewGzip(GzipConfig{})), or through Build. The Config of an interceptor that
// logs has a Logger (nil discards). Stack order is Tribes' configuration
// order: the first interceptor is the closest to the application. The rules that matter:
// Order above MessageDispatch; Encrypt, Order, Fragmentation and TwoPhaseCommit above the
// TCP failure detector; compression above Encrypt; Fragmentation low in the stack, so that
// its maxSize bounds what goes on the wire; with static membership, ping above the TCP
// failure detector. docs/interceptors.md explains them, lists the orders Build logs a
// warning for (or refuses, where the stack cannot work: Encrypt below the detector), and
// shows how to write an interceptor (see also Example_customInterceptor).
//
// # Concurrency
//
// Every interceptor is safe for concurrent use: SendMessage runs on every sending goroutine
// and MessageReceived on every receiving connection's worker at once. None holds a lock
// while it calls the next or previous layer. The layers below are never handed a buffer
// that the application passed in and the interceptor changed: an interceptor that replaces
// msg.Data does so with its own copy, and restores the message when the send returns.
// Interceptors with timers (Order, Fragmentation, TwoPhaseCommit expiry, the coordinators)
// use the channel's heartbeat or the time package, so they run under testing/synctest.
//
// # Memory
//
// The interceptors that hold messages bound what one sender and what all senders together
// make them hold: MessageDispatch its queue (MaxQueueSize, 64 MiB); Order the messages
// waiting for earlier ones, per sender (MaxQueue, 4096; MaxQueueBytes, 64 MiB) and all
// senders' together (MaxHeldBytes, 1 GiB, 256 bytes a message besides its data), a queue
// over either released in order with its gaps skipped; Fragmentation the messages being
// reassembled (MaxMessageSize a sender, MaxPendingBytes all, 256 MiB and 1 GiB), refusing
// a piece beyond; TwoPhaseCommit the unconfirmed messages (MaxSenderBytes,
// MaxHeldBytes, 256 MiB and 1 GiB), refusing a message beyond. docs/interceptors.md and the pages it links
// say what each counts.
//
// # Wire compatibility
//
// Gzip, Order, Fragmentation, Encrypt, TwoPhaseCommit and the NonBlockingCoordinator's
// messages put exactly Java's bytes on the wire and are tested against the Java classes of
// Tomcat 10.1.60 (interop/interceptors). Zstd and S2 are this port's own and only mean
// something between Go nodes. Encrypt speaks the format of Tomcat 10.1.56+ / 11.0.23+ /
// 9.0.119+ (inner timestamp, replay window) by default, and that of earlier releases with
// EncryptFormatLegacy ("format=legacy" in a spec), which has no replay protection; the
// interop test runs the format of the installed jar.
package interceptors
