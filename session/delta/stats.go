package delta

import "time"

// Stats are a manager's counters since it was created.
type Stats struct {
	ActiveSessions    int    // sessions held now (primary and copies)
	SessionsCreated   uint64 // created on this node
	SessionsDestroyed uint64 // removed on this node: expired, invalidated (here or by a message), stopped
	SessionsExpired   uint64 // of those, timed out on this node
	// Sent and Received count messages by event.
	Sent, Received map[Event]uint64
	SendFailures   uint64 // sends that returned an error
	// UnreachableTolerated counts replications that left out members the transport could
	// not connect to (Config.TolerateUnreachable).
	UnreachableTolerated uint64
	BytesSent            uint64 // encoded bytes of successful sends

	QueuedDuringTransfer uint64 // messages queued while the state transfer ran
	DroppedStale         uint64 // queued messages dropped as older than the transferred state
	SessionsTransferred  uint64 // sessions received by state transfers
	SessionsServed       uint64 // sessions sent to joining nodes
	// TransferSessionsRefused counts the sessions of state transfer chunks (received, or
	// served by this node) left out for a field past the codec's limits: a value, a
	// string or a principal's Java form that this node's BinaryCodec refuses to read
	// (the rest of the chunk applied; TestTransferRefusesOnlyTheSessionPastLimits), or
	// that a donor's JavaCodec does not write for its Limits
	// (TestJavaDonorLeavesOutTheSessionPastItsLimits). Each is logged, rate-limited.
	TransferSessionsRefused uint64
	// ChangesDroppedPastLimits counts the changes (attribute, note or principal values)
	// Replicate left out of a session's delta because the codec refused to encode them
	// for its limits (an error wrapping ErrMessageLimit names them): not kept pending,
	// they would have made every later delta of the session refused
	// (TestChangePastLimitsDoesNotBlockLaterDeltas).
	ChangesDroppedPastLimits uint64
	TransferAttempts         uint64        // donors asked
	TransferRepairs          uint64        // members asked again for every session: messages named sessions this node lacked
	TransferDuration         time.Duration // how long the state transfer took
	// CatchUps counts the members that answered this node's catch-up after its state
	// transfer with the sessions they sent about since it started (docs/failover.md),
	// and those back in its view after leaving it that answered with the sessions they
	// sent about since; the copies it added or replaced count in SessionsRefreshed.
	CatchUps uint64
	// CatchUpScans counts the catch-ups this node answered by reading every session: its
	// log of the sessions it sent about lately (the last 65 536 sessions, each logged
	// once a second it was sent about) no longer reached back to the joiner's start.
	CatchUpScans uint64
	// QuorumRefreshes counts the refreshes of this node's copies from every member after
	// it got the quorum back (Config.ClusterSize); SessionsRefreshed the copies they added
	// or replaced with a higher version.
	QuorumRefreshes, SessionsRefreshed uint64
	// RefreshRemovals counts the copies refreshes removed: their sessions were removed or
	// renamed by the others meanwhile. RemovalsKept is how many records of removed and
	// renamed ids this node keeps now (removals.go): for the messages that arrive, and to
	// tell members that refresh or join (BinaryCodec only).
	RefreshRemovals uint64
	RemovalsKept    int
	// StaleRequestsRefused counts the requests for a session the middleware refused
	// (503) because this node lacked the quorum or had not refreshed since it got it back:
	// its copy may miss changes, or an invalidation, the majority made, and a session id
	// it does not hold may name one the majority holds.
	StaleRequestsRefused uint64
	// RefreshQueueOverflows counts the times the messages waiting for a refresh passed
	// their bound (1 << 16) and were dropped, the refresh asking every member again.
	RefreshQueueOverflows uint64
	// TransferNoManager counts the members asked that run no session manager at all
	// (they answered FAIL_ACK, ErrNoSessionManager); TransferDeclined those that have no
	// manager for this context or were starting themselves (they answered
	// EVT_ALL_SESSION_NOCONTEXTMANAGER, ErrDonorDeclined).
	TransferNoManager, TransferDeclined uint64
	// MemberWait is how long the start waited for a member to appear (Config.MemberWait).
	MemberWait time.Duration
	// TransferDonor is the address of the member whose state transfer completed; empty
	// when none did (first node, or failed).
	TransferDonor string
	// TransfersActive and TransfersWaiting are the state transfers this node serves now
	// and those waiting for one of Config.MaxConcurrentTransfers slots.
	TransfersActive, TransfersWaiting int
	// TransferRequestsRefused counts state-transfer requests refused because the same
	// member already had one running or waiting.
	TransferRequestsRefused uint64
	// TransferAskedAgain counts requests for every session sent again to the same member
	// after Config.TransferIdleTimeout without a sign of its answer.
	TransferAskedAgain uint64
	// SessionsRerouted counts sessions the middleware's jvmRoute binder renamed to this
	// node's route (HTTPConfig.DisableJvmRouteBinder).
	SessionsRerouted uint64
	// BatchWaits counts the acked batches that waited for their cohort
	// (Config.AckedBatchWait); BatchWaitsRanOut those that left before all of it came.
	BatchWaits, BatchWaitsRanOut uint64

	UnknownSession    uint64 // messages about sessions this node does not have
	Unexpected        uint64 // messages that made no sense in the manager's state
	ValueDecodeErrors uint64 // attribute values this node could not decode
	BadActions        uint64 // delta actions with malformed values
	MutationsDetected uint64 // attributes replicated by DetectMutations
	// OlderChangesSkipped counts attribute changes from another Go node not applied
	// because this copy holds a newer one (a change the sender had not seen when it made
	// its own, ordered by the changes' stamps: see "Concurrent requests on two nodes" in
	// the package documentation), and the other changes of a delta that a later delta
	// of its sender overtook ("Replication modes").
	OlderChangesSkipped uint64
	// ListenerPanics counts the listener calls that panicked: recovered from and logged,
	// the event's other listeners and the operation that fired it going on.
	ListenerPanics uint64
}

func (m *Manager) transferDonor() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doneFrom
}

// Stats returns a snapshot of the manager's counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	s := Stats{
		ActiveSessions: m.Len(), SessionsCreated: c.created.Load(), SessionsDestroyed: c.destroyed.Load(),
		SessionsExpired: c.expired.Load(), Sent: map[Event]uint64{}, Received: map[Event]uint64{},
		SendFailures: c.sendFailures.Load(), BytesSent: c.bytesSent.Load(), UnreachableTolerated: c.unreachable.Load(),
		QueuedDuringTransfer: c.queued.Load(), DroppedStale: c.droppedStale.Load(),
		SessionsTransferred: c.transferred.Load(), SessionsServed: c.served.Load(),
		TransferSessionsRefused: c.transferSessionsRefused.Load(), ChangesDroppedPastLimits: c.droppedPastLimits.Load(),
		TransferAttempts: c.attempts.Load(), TransferRepairs: c.repairs.Load(), CatchUps: c.catchUps.Load(), CatchUpScans: c.catchUpScans.Load(), TransferDuration: time.Duration(c.transferNanos.Load()),
		QuorumRefreshes: c.refreshes.Load(), SessionsRefreshed: c.refreshed.Load(),
		RefreshRemovals: c.refreshRemoved.Load(), RemovalsKept: m.gone.len(), StaleRequestsRefused: c.staleRefused.Load(),
		RefreshQueueOverflows: c.refreshOverflows.Load(),
		TransferNoManager:     c.noManager.Load(), TransferDeclined: c.declined.Load(),
		MemberWait: time.Duration(c.memberWaitNanos.Load()), TransferDonor: m.transferDonor(),
		UnknownSession: c.unknownID.Load(), Unexpected: c.unexpected.Load(),
		ValueDecodeErrors: c.valueDecodeErrors.Load(), BadActions: c.badActions.Load(),
		MutationsDetected: c.mutations.Load(), OlderChangesSkipped: c.olderChanges.Load(), ListenerPanics: c.listenerPanics.Load(), TransfersActive: int(c.transfersActive.Load()),
		TransfersWaiting: int(c.transfersWaiting.Load()), TransferRequestsRefused: c.transfersRefused.Load(),
		TransferAskedAgain: c.askedAgain.Load(),
		SessionsRerouted:   c.rerouted.Load(), BatchWaits: c.batchWaits.Load(), BatchWaitsRanOut: c.batchWaitsRanOut.Load(),
	}
	for e := range c.sent {
		if n := c.sent[e].Load(); n > 0 {
			s.Sent[Event(e)] = n
		}
		if n := c.received[e].Load(); n > 0 {
			s.Received[Event(e)] = n
		}
	}
	return s
}
