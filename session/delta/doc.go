// Package delta replicates HTTP sessions across a Tribes group, as Tomcat's DeltaManager
// does: every node keeps a copy of every session, each request's changes travel as a
// small delta, and a node that starts asks an existing one for all sessions.
//
//	            ┌──────────── net/http ─────────────┐
//	request ──► Middleware ──► handler (FromContext: Get, Set, Invalidate, ChangeID)
//	            │  cookie, jvmRoute binding          │
//	            └─ at the end (acked: before the first byte): Manager.Replicate
//	                      │ EVT_SESSION_DELTA / ACCESSED / CREATED / EXPIRED / CHANGE_SESSION_ID
//	                      ▼
//	Cluster (one per channel) ── MessageCodec ── channel.Channel ── other nodes' Clusters
//	   └─ Manager per application ("localhost#/app"), Session per id
//
// # Usage
//
// Build and start a channel.Channel (transport/nio and a membership service, or
// channel/channeltest in tests), then:
//
//	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch}) // one per channel
//	if err != nil { ... }                           // wraps delta.ErrInvalidConfig
//	m, err := cl.NewManager(delta.Config{Name: "localhost#/app", JvmRoute: "node1"})
//	if err != nil { ... }
//	if err := m.Start(ctx); err != nil { ... }      // state transfer runs in the background
//	mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
//	http.ListenAndServe(addr, mw.Wrap(mux))
//
// In a handler:
//
//	sess := delta.FromContext(r.Context())
//	n, _ := sess.Get("count")                   // any; delta.Attr[T] on a *Session is typed
//	err := sess.Set("count", count+1)           // creates the session if needed
//	id, err := sess.ChangeID()                  // on login: session fixation protection
//	err = sess.Invalidate()                     // on logout
//
// Stop the manager (or Close the cluster) before stopping the channel.
//
// A manager is ready once it has the sessions of an existing member. The first node of
// a cluster finds none to ask and waits Config.MemberWait (3 s by default) for a member
// to appear before it starts empty; until it is ready the middleware holds requests
// (HTTPConfig.NotReady). So the first request to the first node can take 3 s; set
// MemberWait negative in a test of one node that needs no transfer.
//
// # Sessions and deltas
//
// A Session records every change made through its methods as an action of Tomcat's kinds
// (attribute, principal, isnew, maxinterval, authtype, listener, note; set or remove); a
// later action on the same name replaces the earlier one. When the request ends,
// Manager.Replicate sends the actions as one EVT_SESSION_DELTA, only if there are any;
// otherwise it sends EVT_SESSION_ACCESSED when the session was not primary here, was
// not replicated for longer than its max inactive interval, or its last message from here
// failed (the node primary before would expire it). The node that served the
// request becomes the session's primary; the others hold copies. Replications of one
// session are serialised, so concurrent requests on it reach the other nodes in order.
//
// A node that missed a session's EVT_SESSION_CREATED (or got it after the first delta,
// which asynchronous sends allow) creates the copy from that first delta, which always
// carries isnew=true.
//
// # Concurrent requests on two nodes
//
// Behind a balancer without stickiness, two requests of one session can change it on two
// nodes at once, and each node gets the other's delta after making its own change. Tomcat
// applies deltas in the order they arrive, so each node would keep the other's value of
// an attribute both set. Between Go nodes (BinaryCodec) the last writer wins instead, the
// same on every node: every attribute remembers the stamp of the change that set it (or
// removed it: a session remembers eight removals once their deltas are taken), the
// session's version the delta carried followed by its sender's origin (a hash of its
// member's unique id), and a change from another Go node applies only if its stamp is not
// older. A node gives its next delta a version above every one it applied and every other
// node's stamp it holds (versions can jump), so a change made after another was applied
// wins over it; changes that did not see each other are ordered by their senders. An
// attribute set, removed or marked dirty here and not sent yet keeps its value whatever
// arrives meanwhile. A failed delta does not give back a version another node's change
// took, and only its changes that no other node's replaced since go out again. State
// transfers carry the stamps (AskStamps); a delta older than the transferred copy still
// applies its attribute changes where their stamps win, and a refresh takes from a
// member's copy that is not newer by version the attributes, principal, auth type,
// interval, notes and listeners whose stamps win (TestRefreshMergesConcurrentMetaChanges).
// Changes to different attributes all apply (TestConcurrentChangesConverge); skipped
// changes are counted in Stats.OlderChangesSkipped. The losing change is lost, as on one node;
// Session.Update is atomic on one node only. The principal, auth type, notes, listeners
// and max inactive interval follow the stamps too (TestConcurrentMetaChangesConverge),
// state transfers between Go nodes carry their stamps (AskMetaStamps,
// TestTransferredMetaKeepsItsStamps; from a donor of an earlier version a transferred
// copy's count as older than any Go node's change; those of removed notes and listeners
// are bounded as attributes' tombstones are, TestMetaStampsOfRemovedPartsBounded), and
// they do not apply from a delta a joiner queued that is older than its transferred
// copy, nor from one a later delta of its sender overtook ("Replication modes"). Deltas in Tomcat's format carry no version
// and apply in arrival order, as in Tomcat, and values transferred from a member of an
// earlier version are stamped zero (older than any Go node's change). docs/consistency.md
// lists the cases where a later change can still lose.
//
// # Values
//
// Attribute values go through Config.Codec, a ValueCodec (JavaValueCodec for clusters with
// Tomcat nodes, see "Wire compatibility"); the default GobCodec has
// compact encodings for strings, byte slices, booleans, int, int64, uint64, float64 and
// time.Time, and uses encoding/gob for the rest (register your types with gob.Register
// on every node; common maps and []any are registered by this package). Set encodes at
// once and decodes back: a value that cannot be encoded, or would not read back as the
// same Go type with the same fields on another node (ErrValueNotReplicable), or that the
// other nodes' BinaryCodec or JavaCodec would refuse as too large (ErrMessageLimit), is refused there
// with a *ValueError, not when the request ends. Session.Update is an atomic
// read-modify-write on the node that serves the request. A value mutated in place does not
// replicate by itself; call Session.MarkDirty, or set Config.DetectMutations to have the
// values read during a request re-encoded and compared when it ends. Copies on other
// nodes keep the encoded bytes and decode on first use.
//
// # Replication modes
//
// ReplicateAsync (Tomcat's default channelSendOptions 8) sends without waiting for
// acknowledgements, after the handler returned. ReplicateAcked sends with use_ack and
// sync_ack, so a send returns once every member's listener applied the message; the
// middleware then replicates before the first byte of the response leaves (the
// ResponseWriter is wrapped: WriteHeader, Write, Flush and Hijack wait for it), which
// gives this guarantee: a client that received a successful response knows every member
// has the session's changes, so no acknowledged write is lost when the serving node dies
// afterwards. If the acked send fails, the response is replaced by 503 (configurable),
// the handler's writes fail with ErrNotReplicated, and the changes stay pending for the
// next request (unless another node changes the same attribute first: its change
// replaces the pending one). Changes made after the response started are replicated
// when the handler returns, without that guarantee. Sends use the request's context
// values but not its cancellation: a client that hangs up does not leave a half-sent
// delta.
//
// With BinaryCodec, the deltas of concurrent requests are coalesced (group commit). In
// acked mode, while one of a manager's channel messages is being sent, the deltas of the
// requests that end meanwhile wait and then go out together in the next one, each request
// returning once every member acknowledged the message that carried its delta. When a
// send ends, the next one waits up to Config.AckedBatchWait (2 ms) for the requests of the
// batch that ended to come back (while they keep coming: the first 0.5 ms quarter of it
// in which none came ends the wait; TestGroupCommitCohortWaitEndsAtAQuarterWithoutANewMessage),
// so that a steady pool of clients travels in one channel message per round trip
// instead of several; a lone request on an idle node does not wait, and two waits that
// run out close together turn waiting off for a while (Stats.BatchWaits and
// BatchWaitsRanOut count them). In async
// mode the middleware does not wait for the send at all: it hands the delta to the
// manager's sending goroutine and the response leaves; that goroutine sends what was
// handed over while it sent the previous channel message in the next one. Every message
// of an async manager leaves through that goroutine, in order, and a session has at most
// one delta queued or in flight (changes made meanwhile go out after it); a failed send
// leaves them pending for the session's next request, as in acked mode
// (Manager.Replicate itself still returns once its message was sent). Once a channel
// message carried several deltas, that goroutine starts the next one no sooner than
// Config.AsyncBatchInterval (1 ms) after it, so that under load the members receive
// fewer, larger messages (the copies lag by up to that much more). Under concurrent load
// this sends far fewer messages and ACKs than requests; a lone request is sent at once.
//
// Leaving in order is not arriving in order: an async send returns once written, the next
// channel message can take another of the transport's pooled connections to a member
// (transport/nio keeps several), and a member serves its connections concurrently, so it
// can apply a session's later message first. Members order them themselves: attribute
// changes by their stamps (above); the other parts of a delta (principal, auth type, max
// inactive interval, notes, listeners, isnew) are skipped when a later delta of the same
// sender was applied (TestOvertakenDeltaKeepsLaterMeta); and every member keeps one record
// of the sessions removed and renamed lately (EVT_SESSION_EXPIRED, whose version is above
// every change of the session its sender held; a removal's for an hour or twice the
// session's max inactive interval if longer, an old id's for twice the interval, at most
// 131 072 records; a state transfer carries it to a joiner, and a
// refresh consults it), so that a creation, a first delta or an id change that the
// removal overtook does not make the copy again (TestExpiryOvertakingFirstDelta,
// TestExpiryOvertakingRename, TestRemovalRememberedPastCount, TestJoinerKnowsWhatWasRemoved);
// a session made again under a removed id (CreateWithID) starts above the removal's
// version (TestSessionMadeAgainUnderRemovedID), and a late expiry of the earlier session
// spares it (TestLateExpiryOfOldSession). A delta that
// overtakes the id change before it waits for it (repair, below), and one overtaken by an
// id change applies to the renamed session (TestDeltaCrossingARename). Not ordered: a
// removal forgotten (its time passed, or 131 072 later ones) before the message it
// overtook arrives; a
// removal without a version (Tomcat's format, a Go node of an earlier version, a resent
// expiry), which keeps any delta from making the copy again but not a late creation
// (Tomcat's arrival order; the delta then applies to that copy). In acked mode a send
// returns once every member applied the message, and a session's messages are sent one
// at a time (its send slot), so the members apply them in order.
//
// "Every member" is every member in this node's view: a node that a partition cut off
// and whose membership dropped the others acknowledges changes they never get, as Tomcat
// does. Config.ClusterSize makes acked replication need a majority of the cluster's nodes
// (ErrNoQuorum otherwise), and a node that was without the quorum refreshes its copies
// from every member (the highest version of each session wins; copies of sessions the
// others removed meanwhile go, by the removals they remember) before it acknowledges
// changes again. A partition of some links only, where two nodes cut off from each other
// both still see a majority, is found by probes through the other members: the one of
// the two with the higher unique id stands down until the link is back, then refreshes
// (BinaryCodec only; docs/consistency.md, "Partitions").
//
// # State transfer
//
// A starting manager sends EVT_GET_ALL_SESSIONS to the oldest member with use_ack+sync_ack.
// An ACK or an ack timeout (a Tomcat donor acknowledges after it sent every session) means:
// wait for the sessions, without asking again (a Tomcat donor serialises every session
// anew for each request). A FAIL_ACK means that no listener took
// the request, the channel's answer when the member runs no session manager at all
// (channel.Config.AckUnaccepted): the next member is asked, or the manager starts empty
// (ErrNoSessionManager, Stats.TransferNoManager). A donor's channel that does not list the
// joiner yet answers FAIL_ACK too (its channel, or its Cluster when the channel accepts
// non-members), so while Config.MemberWait lasts and no other member is
// there to ask, such a member is asked again every second. With no member to ask it waits
// up to Config.MemberWait for one to appear before it starts empty as the first node.
// The donor walks its
// live session table one shard at a time (never copying the whole table), encodes at
// most Config.SendAllSessionsSize sessions (or SendAllSessionsBytes) per
// EVT_ALL_SESSION_DATA chunk, sends each with use_ack+sync_ack (the acknowledgement after
// the joiner applied it is the flow control; up to 3 chunks are unacknowledged at once, on
// separate connections, so that the two sides work at the same time), and ends, once
// every chunk is acknowledged, with EVT_ALL_SESSION_TRANSFERCOMPLETE carrying the time it
// started reading. The joiner keeps attribute values of 512 bytes or more in the received
// chunk's buffer instead of copying them: that buffer is freed when none of its sessions
// holds its transferred value any more. A Go donor tells how many sessions it holds
// (Message.Total), and the joiner sizes its table for them as chunks arrive (up to 16
// entries ahead of each session received, in steps of 4 times, so that a donor's word
// alone costs the joiner no memory); while
// the transfer runs, the joiner raises the process's GOGC to Config.TransferGCPercent
// (400), since almost all it allocates then is kept, and puts it back after. On Linux,
// where transparent huge pages are in "madvise" mode, it also advises the heap its
// sessions fill for huge pages meanwhile (madvise MADV_HUGEPAGE per 4 MiB of heap; the
// transport then does the same for the buffers of frames of 1 MiB or more), and withdraws
// the advice after: faulting gigabytes in 4 KiB pages took most of a joiner's time on a
// virtual machine. GODEBUG=disablethp=1 turns that off. Messages that
// arrive at the joiner meanwhile are queued and replayed afterwards; those older than that
// time are dropped (Tomcat's stateTimestampDrop), except deltas newer than the
// transferred copy of their session, and expiries and id changes of sessions the joiner
// holds (the donor applied them after its snapshot, or the copy came from a donor that
// left mid-transfer; a rename whose new id is held drops the old id's copy). If the donor leaves the membership, cannot be
// reached or has no sessions to give (EVT_ALL_SESSION_NOCONTEXTMANAGER), the next member
// is asked; so it is when a message from the donor was lost on receipt (the transport
// reports it through channel.LossListener: larger than its MaxFrameSize, or cut off by
// the donor's sender) or the codec refused it. A "complete" from the donor while the
// channel says a message from it is still arriving (channel.Channel.Arriving; Tomcat
// sends the two on different connections) waits for that message to be delivered or
// reported lost. When every member was asked and an
// attempt failed for another reason than having no sessions to give, WaitReady returns a
// *StateTransferError (ErrAllDonorsFailed; errors.Is matches each attempt's error, such
// as channel.ErrMessageTooLarge). A node still waiting for its own transfer answers a GET_ALL_SESSIONS with
// NOCONTEXTMANAGER at once instead of queueing it (Tomcat queues and later drops it,
// which leaves the asker waiting for its timeout), and so does a cluster for a manager
// NewManager made and not started yet, for a minute after it was made (one never started
// does not hide for ever that the node has no manager running:
// TestNeverStartedManagerStopsAnsweringStarting); its answer says that the manager is starting
// (session id NOT-READY, read by Go joiners only), which the joiner logs at Info, not
// with the warning for a member without the manager: two nodes starting at once log no
// warning (TestSimultaneousStartIsQuiet). A queued id change or delta about a
// session the joiner then lacks under every id it names (a Tomcat donor renaming a session
// removes it from its map and adds it back, and a snapshot taken meanwhile lacks it; or
// the sender did not yet list the joiner when it renamed the session) makes the joiner,
// still not ready, ask that message's sender for every session again, keep only the
// sessions it lacks and replay the messages about them (Stats.TransferRepairs; each
// member at most once per transfer). A running manager does the same for such a message
// (holding the messages about the sessions asked for until they are loaded), except for
// ids it removed, renamed or gave up on, in rounds of one request at a time: messages
// arriving during a round wait for its answer, and a session is asked of one member at
// most twice (again only when it was named after that member's answer began). Each round
// waits 200 ms first: a rename or creation arriving meanwhile (a delta sent
// asynchronously can overtake the rename before it) applies the messages held about its
// session, and a repair left with none asks nobody. Neither repair loads a session whose
// EVT_SESSION_EXPIRED arrived meanwhile, or before it asked, not newer than the expiry
// (the member asked may have answered before it applied the expiry). A donor from which nothing of the
// answer came for Config.TransferIdleTimeout (10 s; its answer was lost, or it gave up
// sending it) is asked again, each time after twice as long. The whole transfer is bounded by
// Config.StateTransferTimeout (60 s); on timeout WaitReady returns a *StateTransferError
// and the manager serves with what it has. Ready and WaitReady report readiness; the
// middleware holds (HoldUntilReady, bounded) or refuses (RefuseUntilReady, 503) requests
// until then. A manager not started or stopped is not waited for: 503 at once, its text
// saying which.
//
// A member whose membership lists the joiner late sends it none of the changes it makes
// meanwhile, and one that reaches the donor after the donor read its session is one the
// joiner would get from nobody. So with BinaryCodec a joiner, once its donor's transfer is
// complete and before it is ready, catches up: it asks every other member it lists for
// the sessions that member sent a message about since the joiner started, and the
// records of the removals and renames it sent since (AskRecent),
// asking again every second a member that does not list it yet (FAIL_ACK) while
// Config.MemberWait lasts, and merges the answers as a refresh does, by version and
// stamps (Stats.CatchUps). A member that still refuses then is asked again every second
// once the joiner is ready, until Config.CatchUpWindow (60 s) after its start, as is a
// member the joiner lists only after its catch-up began, from when it is added, and one
// whose request failed (a send error, no answer, the member gone: when it is listed), and
// one that answered (or the donor) then left and is added again within the window, or
// asks the joiner back (TestMemberBackAskingAJoinerInItsWindowGetsTheRenames); their
// answers are merged into the copies the joiner serves by the stamps only, so that
// changes made there meanwhile stay (TestJoinerCatchesUpWithAMemberListingItAfterMemberWait,
// TestJoinerCatchesUpWithAMemberItListsAfterItsTransfer). Past that window, a running
// node without a quorum (Config.ClusterSize) asks a member that left its view and is added again (a partition healed, or its
// membership timed the member out while it kept running) for what it sent, or took of
// another node's changes, since it left in the same way (a node that changed a session
// then left for good meanwhile reached this one only,
// TestMemberBackGetsTheChangesOfANodeThatLeftMeanwhile), AskBack asking the member to ask it back (its own view may have kept
// this node), so that a session renamed meanwhile is held under its new id there, with
// the changes made meanwhile, not under its old id
// (TestMemberBackAfterLeavingGetsTheRenamesMadeMeanwhile,
// TestMemberBackInOneViewOnlyGetsTheRenames). A member answers it before acknowledging it, from its logs of
// the sessions it sent about (or, asked back, took changes of) lately rather than by reading every session it holds
// (Stats.CatchUpScans counts the answers the log did not reach back far enough for),
// and puts the request's own id in every message of its answer (AskEcho), so that the
// late answer to a request whose wait ended is not taken for the next request's.
//
// A rename to another route (the middleware's jvmRoute binding) keeps an id's random
// part, and a message from the cluster about an id this node does not hold applies to the
// session held under the same random part with another route (this node's, then every
// route seen in the cluster), without a repair unless that copy is more than one change
// behind the delta (Message.Version). A rename can reach only some members (its
// sender died while sending it to each in turn): members then hold the session under
// different routes and each replicates it under its own id; every acknowledged change is
// still applied everywhere, and the next rename brings the ids together.
//
// Only current members of the channel are heard: a session message whose sender is not
// in the member list is ignored and counted (ClusterStats.RefusedNonMember), and a state
// transfer goes to the membership's record of the member that asked. A member listed
// without a unique id (host:port: node.Config.StaticMembers, membership/static) stands
// for whichever node runs at its address, as in the channel's sender check: its
// messages are heard as from that record (TestMembersListedByAddressReplicate), and
// messages held before it was listed are handled once it is
// (TestTomcatJoinerListedByAddressLaterGetsTheSessions). With JavaCodec such
// a message is held instead, undecoded (ClusterStats.UnlistedHeld, not RefusedNonMember:
// TestHeldMessageNotCountedAsRefused), for ClusterConfig.UnlistedRequestWait (10 s): a
// Tomcat node may list this node before this node lists it, and sends each message once
// (a joiner's request for every session, a member's changes); the messages are handled
// in the order they came once the sender is listed, before the messages it sends once
// listed, a synchronized-ack one acknowledged then, and dropped otherwise
// (TestTomcatJoinerAskingBeforeItIsListedGetsTheSessions,
// TestChangesOfAMemberNotListedYetAppliedOnceListed,
// TestAckedChangeOfAMemberNotListedYetAckedOnceApplied,
// TestChangeOfAMemberJustListedAppliedAfterItsHeldOnes). A node serves
// Config.MaxConcurrentTransfers transfers at once, one per member, and as many catch-up
// answers, one per member (TestCatchUpFloodBounded).
//
// # Expiry
//
// A sweep every Config.ExpireInterval (60 s) expires primary sessions idle for their max
// inactive interval (30 min by default) and tells the cluster (EVT_SESSION_EXPIRED);
// copies expire silently after twice that, in case their primary died. Session and
// attribute listeners fire on the node where things happen and, unless
// Config.SkipListenersOnReplication, on the others too (SessionEvent.Replicated). The
// sweep uses the time package only, so tests drive it with testing/synctest.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. Listeners run on the goroutine that
// caused the event (a request, the sweep, a message receiver) with no lock of this
// package held, so they may call back into the manager, about the session of the event
// too: a SessionDestroyed that invalidates the user's other sessions, whose listeners
// invalidate it in turn (TestDestroyedListenerMayInvalidateTheSession), an IDListener
// that replicates the renamed session (TestIDListenerMayReplicateTheSession; id
// listeners hear of a rename once the cluster was told). Locks, in the order they may be
// taken: a Session's Update slot (held while the update function runs), its send slot (held across the sends of one replication, id change or
// expiry, which keeps one session's messages in order), a shard of the session table, the
// Session's mutex. The Manager's and the Cluster's mutexes are only held briefly and never
// while sending. Apart from the send slot no lock is held while sending, so transports
// that deliver synchronously in the sender's goroutine (channeltest) work.
//
// # Wire compatibility
//
// The event numbers, action types and operations, the special session ids ("GET-ALL",
// "SESSION-STATE", ...), the defaults and the protocol (who sends what, with which
// options) are Tomcat's. The bytes depend on ClusterConfig.Codec:
//   - BinaryCodec (the default) is a compact Go format: Go nodes replicate with each
//     other only. Its batches of several messages in one channel message (group commit)
//     have a header of their own, format version 2; a node of a version before batches
//     ignores them, so every node of a cluster must run a version that reads them.
//     A session of a state transfer chunk naming an attribute more than once holds the
//     name once, with the last value and its stamp, at the name's first place, as
//     JavaCodec reads a Tomcat session (TestBinaryCodecKeepsTheLastValueOfAName,
//     TestDecodeSessionDataKeepsTheLastValueOfAName).
//   - JavaCodec writes and reads Tomcat 10.1's own messages: SessionMessageImpl objects
//     sent as Tribes object messages, the DeltaRequest data of a delta, DeltaSession's
//     layout in a state transfer, the new id of an id change. With JavaValueCodec as
//     Config.Codec (attribute values as Java objects: String, boxed numbers, Boolean,
//     byte[], Date, lists, sets and maps map to Go values, other classes are carried
//     opaque), Go nodes and Tomcat DeltaManager nodes share sessions both ways: state
//     transfer, deltas, expiry, id changes. Tomcat's GenericPrincipal travels whole (name,
//     roles, attributes, wrapped user principal; see Principal), a session listener as a
//     ClusterSingleSignOnListener's ssoId. Tomcat has
//     no message carrying several session messages, so JavaCodec sends one per channel
//     message: no group commit.
//
// The streams of the real catalina-ha classes in testdata/java
// (scripts/gen-golden.sh session) decode and re-encode byte for byte; interop/tomcat
// runs real Tomcat nodes against a Go node. See docs/tomcat.md, docs/wire-format.md and
// the Tribes specification, section 11.
package delta
