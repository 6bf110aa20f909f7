package nio

import "sync/atomic"

// Stats is a snapshot of a Transport's counters since New. Counters only grow; the
// fields marked "gauge" are current values.
type Stats struct {
	// Receiver.
	ConnsAccepted       uint64 // TCP connections accepted
	ConnsOpen           int64  // gauge: inbound TCP connections open now
	FramesReceived      uint64 // frames decoded (TCP and UDP), counted once decoded, whether then delivered or dropped (FramesAbandoned, or by Stop), on both engines
	BytesReceived       uint64 // bytes of those frames, markers included
	MessagesDelivered   uint64 // messages handed to the ReceiveFunc
	DeliveryErrors      uint64 // ReceiveFunc calls that returned an error (or panicked)
	AcksSent            uint64 // ACK frames written
	FailAcksSent        uint64 // FAIL_ACK frames written
	FramesRejected      uint64 // malformed, oversize or undecodable frames; each closed its connection (or dropped its datagram)
	FramesLost          uint64 // frames dropped after their header named the sender, reported to the channel: oversize, or cut off by their connection's close
	ConnsOverflowed     uint64 // connections closed because, paused, they buffered more than MaxConnQueueBytes plus a read
	ReadPauses          uint64 // times a connection's queue reached MaxConnQueueBytes and decoding paused (EngineGoroutine: times a connection waited, not reading, for MaxQueuedBytes)
	QueuedBytes         int64  // gauge: decoded bytes waiting for workers, all connections
	DatagramsReceived   uint64 // UDP datagrams received
	ConnsRefused        uint64 // connections closed on accept because MaxConnections were open
	ConnsTimedOut       uint64 // connections closed by FirstFrameTimeout or FrameTimeout
	ConnsStalled        uint64 // connections closed because their peer did not read its ACKs for FrameTimeout
	AckPauses           uint64 // times decoding of a connection paused because MaxConnOutboundBytes were queued (EngineGoroutine: an ACK write blocked for a sweeper tick)
	FramesRefused       uint64 // frames refused, and their connections closed, because MaxPendingBytes was spent
	PendingBytes        int64  // gauge: bytes of partly received frames held, all connections
	UntrustedBytes      int64  // gauge: the part of PendingBytes held by strangers' partial frames (MaxUntrustedPendingBytes)
	ReceiverFailures    uint64 // times the receiver's engine stopped by itself (for example on EMFILE); EngineGoroutine: runs of accepts failing on exhausted descriptors or memory (other accept errors are AcceptErrors)
	ReceiverRestarts    uint64 // times it was restarted after such a failure; EngineGoroutine: times descriptors were free again after them
	AcceptErrors        uint64 // EngineGoroutine: accepts that failed other than on exhausted descriptors or memory (ECONNABORTED, EPERM...), retried after a back-off
	ConnsNonMember      uint64 // connections closed because the channel refused a message from a non-member on them, or because they carried only non-members' frames and none for FirstFrameTimeout
	FramesAbandoned     uint64 // frames asking for an ACK dropped, neither delivered nor acknowledged, because their connection closed while they waited, so that the ACK could reach no one: EngineGoroutine, on Linux, closed by its peer while they waited for MaxQueuedBytes room or a Workers slot, or, on any system, closed by the receiver itself (unread ACKs, FrameTimeout) before their turn; EngineGnet, closed by either end (its peer, or the receiver itself: FrameTimeout, unread ACKs) while they waited for a worker, queued or left in the inbound buffer at the close; never for Stop's close, a Stop whose context has not ended delivering them on both engines
	FramesDroppedByStop uint64 // frames decoded (in FramesReceived) that a Stop whose context ended dropped, neither delivered nor, if not written yet, acknowledged: waiting for a worker or a Workers slot, or decoded by a connection Stop closed, on both engines (TestStopDropsAreCounted), a large frame waiting for MaxQueuedBytes room (TestGoroutineLargeFrameWaitingForRoomDropCounted), or one decoded on an event loop delivering itself (DeliverOnEventLoop: TestStopDropOnTheEventLoopCounted); a graceful Stop drops none. Bytes not decoded when the connection closed are not frames received and not counted: a partial frame, and with EngineGoroutine the frames behind one waiting for MaxQueuedBytes room
	// RxBufKernel and TxBufKernel are gauges, metrics tribes_transport_rx_buf_kernel_bytes
	// and tribes_transport_tx_buf_kernel_bytes: SO_RCVBUF and SO_SNDBUF of the receiver's
	// TCP sockets as the kernel reports them (getsockopt), read once, when the receiver set
	// RxBufSize and TxBufSize: on the listener, which accepted connections inherit
	// (EngineGoroutine), or on the first accepted connection (EngineGnet); 0 before they
	// are read, or where they are not (non-Unix). On Linux a size set is reported twice
	// the size kept, which is RxBufSize cut to net.core.rmem_max (TxBufSize cut to
	// net.core.wmem_max). With RxBufSize -1 (the default: Linux's auto-tuning) RxBufKernel
	// is the receive buffer's starting size, net.ipv4.tcp_rmem's default (131072 bytes on
	// stock kernels), and only that: Linux may grow each connection's buffer as it carries
	// data, up to tcp_rmem's maximum, which the gauge, not read again, does not follow
	// (TestRxBufKernelIsTheAutoTunedStart).
	RxBufKernel int64 `metrics:"rx_buf_kernel_bytes,gauge"`
	TxBufKernel int64 `metrics:"tx_buf_kernel_bytes,gauge"`

	// Sender.
	MessagesSent     uint64 // deliveries that succeeded, one per destination
	BytesSent        uint64 // frame bytes written, retries included
	SendErrors       uint64 // deliveries that failed, one per destination
	Retries          uint64 // extra attempts made
	AckTimeouts      uint64 // deliveries that failed with an ack timeout
	FailAcksReceived uint64 // FAIL_ACK frames received
	Dials            uint64 // connections opened (TCP and UDP)
	DialFailures     uint64 // connection attempts that failed
	ConnsPooled      int64  // gauge: outbound connections open now (idle and busy)
	ConnsExpired     uint64 // outbound connections closed by keep-alive limits or found dead on Heartbeat
	// SenderRxBufKernel and SenderTxBufKernel are gauges, metrics
	// tribes_transport_sender_rx_buf_kernel_bytes and
	// tribes_transport_sender_tx_buf_kernel_bytes: SO_RCVBUF and SO_SNDBUF of the sender's
	// last TCP connection as the kernel reports them (getsockopt), read after each
	// connect: on Linux twice SenderRxBufSize and SenderTxBufSize, each cut to
	// net.core.rmem_max / wmem_max first (or, for -1, the auto-tuned buffer's starting
	// size at the connect, not what Linux grows it to later); 0 before the first
	// connection, or where they are not read (non-Unix).
	SenderRxBufKernel int64 `metrics:"sender_rx_buf_kernel_bytes,gauge"`
	SenderTxBufKernel int64 `metrics:"sender_tx_buf_kernel_bytes,gauge"`
}

type counters struct {
	connsAccepted, framesReceived, bytesReceived, delivered, deliveryErrors atomic.Uint64
	acksSent, failAcksSent, framesRejected, connsOverflowed, readPauses     atomic.Uint64
	datagramsReceived, connsRefused, connsTimedOut, connsStalled, ackPauses atomic.Uint64
	framesRefused, receiverFailures, receiverRestarts, connsNonMember       atomic.Uint64
	framesLost, acceptErrors, framesAbandoned, framesDroppedByStop          atomic.Uint64
	connsOpen, queuedBytes, pendingBytes, untrustedBytes                    atomic.Int64
	messagesSent, bytesSent, sendErrors, retries, ackTimeouts, failAcksRecv atomic.Uint64
	dials, dialFailures, connsExpired                                       atomic.Uint64
	connsPooled                                                             atomic.Int64
	rxBufs, senderBufs                                                      bufGauges
	ackWatch                                                                ackWatchers // WaitAcks
}

func (c *counters) snapshot() Stats {
	return Stats{
		ConnsAccepted:       c.connsAccepted.Load(),
		ConnsOpen:           c.connsOpen.Load(),
		FramesReceived:      c.framesReceived.Load(),
		BytesReceived:       c.bytesReceived.Load(),
		MessagesDelivered:   c.delivered.Load(),
		DeliveryErrors:      c.deliveryErrors.Load(),
		AcksSent:            c.acksSent.Load(),
		FailAcksSent:        c.failAcksSent.Load(),
		FramesRejected:      c.framesRejected.Load(),
		FramesLost:          c.framesLost.Load(),
		ConnsOverflowed:     c.connsOverflowed.Load(),
		ReadPauses:          c.readPauses.Load(),
		QueuedBytes:         c.queuedBytes.Load(),
		DatagramsReceived:   c.datagramsReceived.Load(),
		ConnsRefused:        c.connsRefused.Load(),
		ConnsTimedOut:       c.connsTimedOut.Load(),
		ConnsStalled:        c.connsStalled.Load(),
		AckPauses:           c.ackPauses.Load(),
		FramesRefused:       c.framesRefused.Load(),
		PendingBytes:        c.pendingBytes.Load(),
		UntrustedBytes:      c.untrustedBytes.Load(),
		ReceiverFailures:    c.receiverFailures.Load(),
		ReceiverRestarts:    c.receiverRestarts.Load(),
		AcceptErrors:        c.acceptErrors.Load(),
		ConnsNonMember:      c.connsNonMember.Load(),
		FramesAbandoned:     c.framesAbandoned.Load(),
		FramesDroppedByStop: c.framesDroppedByStop.Load(),
		MessagesSent:        c.messagesSent.Load(),
		BytesSent:           c.bytesSent.Load(),
		SendErrors:          c.sendErrors.Load(),
		Retries:             c.retries.Load(),
		AckTimeouts:         c.ackTimeouts.Load(),
		FailAcksReceived:    c.failAcksRecv.Load(),
		Dials:               c.dials.Load(),
		DialFailures:        c.dialFailures.Load(),
		ConnsPooled:         c.connsPooled.Load(),
		ConnsExpired:        c.connsExpired.Load(),
		RxBufKernel:         c.rxBufs.rcv.Load(),
		TxBufKernel:         c.rxBufs.snd.Load(),
		SenderRxBufKernel:   c.senderBufs.rcv.Load(),
		SenderTxBufKernel:   c.senderBufs.snd.Load(),
	}
}
