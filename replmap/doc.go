// Package replmap is Tribes' replicated maps (org.apache.catalina.tribes.tipis) for a Go
// channel: Map is LazyReplicatedMap, the map Tomcat's BackupManager keeps sessions in, or
// with Config.Replicated ReplicatedMap, speaking their protocol so that Go and Java nodes
// running a map of the same name share its entries.
//
// # Protocol
//
// Every node running the map is a map member. An entry lives on its primary (the node
// that put it, or last got it) and on one backup; the other map members hold a proxy: the
// key, the primary and the backup, no value.
//
//   - New registers the map on the channel: from then on it answers the other members'
//     map messages, as Java's constructor does before it sends anything.
//   - Start sends MSG_INIT to every channel member as an RPC (package rpc, the map name
//     as rpc id) and takes the members that answer as map members (while none did, it
//     sends MSG_INIT again every second within RPCTimeout: a member whose membership
//     lists the joiner late dropped the first, TestStartWithMemberListingJoinerLate;
//     Java waits rpcTimeout), sends MSG_START to
//     every channel member and waits for the replies of those running the map (Java
//     sends it after the transfer, without waiting; see below), then transfers the
//     state from the first map member (MSG_STATE: its entries, as proxies; from the next
//     one when it gives no reply within RPCTimeout, as when it left, and at once when it
//     stops being a map member, TestStateFromNextMemberWhenDonorStops: Java asks the
//     first only), and applies the map messages it received meanwhile.
//   - Put removes an older entry everywhere (MSG_REMOVE), sends key and value to the next
//     map member in turn (MSG_BACKUP) and a proxy to the others (MSG_PROXY). A backup
//     that leaves the map before the entry recorded it makes the primary pick another,
//     as when a backup of a recorded entry leaves.
//   - Get on a proxy asks the backup (MSG_RETRIEVE_BACKUP RPC) and makes the local node
//     the primary (MSG_NOTIFY_MAPMEMBER to the backup, MSG_PROXY to the rest); Get on the
//     backup makes it the primary with a new backup, or without one when no member
//     takes it (the value is returned all the same, as in Java).
//   - Remove sends MSG_REMOVE to every map member, also when the local node holds no
//     entry for the key.
//   - Replicate sends a local primary's changes to its backup nodes (Java's
//     replicate(key, complete)): a Diffable value's Diff as MSG_BACKUP (MSG_COPY in a
//     replicated map) with diff set, which the backup nodes apply to the value they hold
//     with ApplyDiff; another value in full when complete is set; an unchanged
//     AccessReplicated value that asks for it as MSG_ACCESS. An entry without backup
//     nodes is published first when the map has members, and after a failed send the
//     next Replicate sends the value in full (see below).
//   - Every channel heartbeat (channel.Heartbeater) pings the members (MSG_PING RPC,
//     waiting AccessTimeout); map members that have not answered INITIALIZED for
//     AccessTimeout are dropped, as are those the channel reports gone or that sent
//     MSG_STOP (Stop). When a map member goes, the primaries it backed up get a new
//     backup, and the entries it was primary of become primaries on their backup, which
//     picks a new backup.
//
// A replicated map (Config.Replicated, ReplicatedMap) sends every put to every map member
// as MSG_COPY, transfers the state with the values (MSG_STATE_COPY), and a Get on a copy
// makes the local node the primary with MSG_NOTIFY_MAPMEMBER; when a primary leaves, the
// first of its entry's backup nodes still in the map takes over (Java: the first listed,
// even when it left before; TestReplicatedTakeoverSkipsDepartedBackupNode).
//
// The messages are AbstractReplicatedMap$MapMessage objects (Java-serialized,
// serialVersionUID 1): the RPCs travel in RpcMessages, the rest as plain messages with
// Config.SendOptions. Keys and values are separate serialization streams inside them.
//
// # Keys and values
//
// A key or value is any value package jserial marshals: string, the Java number types
// (int32 for Integer, int64 for Long, ...), []byte, []any (ArrayList), *jserial.Map,
// *jserial.Object. Two keys are the same key when their serialization streams are equal
// bytes (so a HashMap key depends on its entry order). Other Go types: marshal them
// yourself into a []byte value (Java sees a byte[]), or build a *jserial.Object of the
// Java class the other nodes expect, or convert them with Config.Values.
//
// Config.Values (a ValueCodec) converts every value received in full (MSG_BACKUP,
// MSG_COPY, a state transfer's copy, a backup's reply to a Get) into the Go value the
// map holds, and back when the map sends it. A diff applies only to a held value that
// implements Diffable, so a map whose values replicate by diff needs a ValueCodec that
// returns such a type (a Java ReplicatedMapEntry arrives as a *jserial.Object of its
// class, or as the JDK type it maps to).
//
// # Limits and differences from Java
//
//   - A received MapMessage is at most Config.MaxMessageBytes and carries at most 1024
//     backup members; errors wrap ErrBadMessage. The key and value streams it carries
//     are decoded within MaxMessageBytes and Config.Limits (zero fields: jserial's
//     defaults): one beyond them is refused with an error wrapping ErrBadMessage and
//     jserial.ErrLimit, and the entry is left as it was (TestValueBeyondLimitsRefused).
//   - What the other map members can make a map hold is bounded (Java's maps have no
//     bound): at most Config.MaxEntries entries, proxies included (DefaultMaxEntries,
//     262144), and Config.MaxStoredBytes (DefaultMaxStoredBytes, 1 GiB) of key and value
//     serialization streams and recorded members (their wire size) together. A received
//     MSG_BACKUP, MSG_COPY or MSG_PROXY that would create an entry beyond MaxEntries, or
//     grow the stored bytes beyond MaxStoredBytes, is not applied: its error wraps
//     ErrLimit (a synchronized-ack sender gets a FAIL_ACK: a lazy map's Put tries the
//     next backup; a replicated map's Put succeeds and still lists the member among the
//     entry's backup nodes, since a FAIL_ACK does not say the copy was not taken),
//     Stats.RefusedOverLimit counts it, and a warning is logged, rate-limited per peer. Entries the map holds still update within the bytes. A state transfer
//     keeps the first MaxEntries entries of the reply and logs that the rest was dropped;
//     decoding the reply is bounded by MaxMessageBytes and Config.Limits (their
//     defaults jserial's; for the RPC envelope the larger rpc.Config.Limits of another
//     rpc.Channel on the same channel, which share one decoding), not by MaxEntries. An entry of the reply whose key or value is the array another entry
//     holds (no donor writes that) is not applied and logged with an error wrapping
//     ErrBadMessage.
//   - The map hears members of the channel only (Java's map hears anyone): on a
//     channel that delivers non-members' messages (channel.Config.AcceptNonMembers), a
//     plain map message from a sender that is not a channel member is dropped before
//     it is decoded, and its MSG_STATE, MSG_STATE_COPY and MSG_RETRIEVE_BACKUP requests
//     are not answered; the error wraps channel.ErrNotMember, Stats.RefusedNonMember
//     counts it and a warning is logged, rate-limited per peer. MSG_INIT, MSG_START and
//     MSG_PING are answered to anyone (a joiner may ask before the membership lists it).
//     A member listed without a unique id (host:port: node.Config.StaticMembers,
//     membership/static) stands for whichever node runs at its address, as in the
//     channel's sender check: the map lists that node with the id its messages name,
//     and the channel dropping the record drops the node
//     (TestMembersListedByAddressShareAMap, TestMemberListedByAddressLeaves).
//   - A member speaks for itself only (Java's map takes the member a message names): a
//     plain MSG_START or MSG_STOP naming another member than its sender is refused with
//     an error wrapping ErrBadMessage (logged rate-limited), and a late reply to
//     MSG_START, MSG_INIT or MSG_PING (which the RPC channel hands over from any sender)
//     counts only when it names its sender, so that nobody makes the map drop a live
//     member or take as a member, and a backup, a node that runs no such map.
//   - A state transfer's reply is one message holding every entry the donor has (a lazy
//     map's as proxies, about 60 bytes each with short keys, each member written once; a
//     replicated map's with their values). A joiner receives it only within its
//     MaxMessageBytes (64 MiB) and its transport's frame limit (transport/nio's
//     MaxFrameSize, 16 MiB by default); Java has neither. Raise both for larger maps. Its
//     decoding allows 2^20 objects, or 32 per entry up to MaxEntries if that is more
//     (Config.Limits.MaxHandles if set: TestStateListBeyondLimits). A
//     reply lost to a limit leaves the joiner without the state, as one that never came,
//     and it logs the cause with the error of the call (rpc.Call names the loss),
//     wrapped with ErrStateTooLarge and the names of the two settings to raise.
//   - A joiner gets the changes made while it joins. Java's sends MSG_START after the
//     state transfer, and members send it their changes only once they handle it: what
//     they put, removed or renamed after the donor's snapshot and before that never
//     reaches it (a removed key stays a proxy there, a new one is unknown). A Go joiner
//     sends MSG_START first and waits for the replies of the map members that answered
//     its MSG_INIT (within RPCTimeout), so that every change after the snapshot is sent
//     to it; the map messages it receives from then on are queued and applied after
//     the state's entries, in the order received (TestPutDuringStateTransfer,
//     TestRemoveDuringStateTransfer; session/backup TestRenameDuringJoin). A member
//     that leaves meanwhile (MSG_STOP, or the channel drops it) stops being a map
//     member at once, and its entries are handled in turn, after the messages it sent
//     before (TestStopDuringStateTransferAfterQueuedBackup). Members may
//     pick it as a backup from its MSG_START on: it
//     answers a MSG_RETRIEVE_BACKUP with the value of a queued MSG_BACKUP
//     (TestPutDuringStateTransfer). A queued message is acknowledged when queued, so an
//     error applying it later (a limit, a diff) is logged, not returned to its sender;
//     but a lazy map's joiner refuses as it comes a diff for a key of which no value in
//     full is queued, with an error wrapping ErrDiff: the state holds the key as a proxy
//     at most (a primary naming this node as the backup of an earlier map here, restarted
//     without its MSG_STOP reaching the primary), so that the sender's next Replicate
//     sends the value in full (TestDiffToJoinerWithoutQueuedValueRefused). A value in
//     full the joiner applied already from its queue counts as queued: a diff reaching it
//     while the rest of the queue is applied is queued (TestDiffWhileQueueAppliedNotRefused).
//     The queue holds at most MaxEntries messages and MaxMessageBytes of their data;
//     beyond, a message is refused as it comes with an error wrapping ErrLimit,
//     counted in Stats.RefusedOverLimit (TestJoinQueueBounded). The joiner answers pings
//     STATETRANSFERRED (starting) from its MSG_START until Start returns. Not covered: a
//     member that answers MSG_START after RPCTimeout, a map member whose reply to
//     MSG_INIT came after Start went on (it gets the MSG_START without a wait), and a
//     change whose message a member sent before it handled the MSG_START but which
//     reached the donor only after its snapshot.
//   - A lazy map's MSG_START from a member whose map this node lists already, as the
//     backup of entries it is the primary of, publishes those entries anew, in full, to
//     the next backup in turn (that member in a map of two nodes): a
//     map that starts holds no value (its state gives it proxies only), so its node
//     restarted without its MSG_STOP reaching this node (killed, with the same member
//     identity, before the membership dropped it), or its map took a backup between New
//     and Start. Java's mapMemberAdded ignores a member it lists: that backup held a
//     proxy, refused the primary's diffs, and the entry was lost with its primary
//     (TestRestartedBackupGetsEntriesAgain). Likewise the entries this node is the
//     only backup of with that member as their primary, whose values went with its
//     earlier map, are taken over as on its MSG_STOP (Config.MadePrimary is called) and
//     published so with this node as primary; before, this node kept naming the restarted
//     map as their primary, and once it left no node held their values
//     (TestRestartedPrimaryEntriesTakenOver). Both are done after the MSG_START is
//     answered (the joiner's Start does not wait for the sends), the entries' next
//     Replicate meanwhile sending their values in full, and a member's MSG_STARTs are
//     gathered into one pass a second at most, Stop running a waiting one at once: a
//     member repeating MSG_START does not have every entry naming it sent again each time
//     (TestRepeatedStartRepublishesBounded). A MSG_START naming a node the channel does
//     not list does neither (TestStrangerStartTakesNothingOver).
//   - A lazy map whose state transfer names it the backup of entries it holds no value
//     of (proxies naming another node their primary) asks those primaries for the
//     values once Start applied the state (MSG_RETRIEVE_BACKUP, which Java answers for
//     any entry it holds) and holds them as their backup: its node restarted without its
//     MSG_STOP reaching a Java primary, whose mapMemberAdded publishes nothing anew to a
//     member it lists (interop/maps TestJavaPrimaryRestartedGoBackup); before, the values
//     were lost with that primary. One pass asks, with at most four requests in flight,
//     each within RPCTimeout; a primary that gives no reply is not asked for its other
//     entries (TestFetchFromSilentPrimaryBounded); Stop ends the pass and waits for it,
//     within its context (TestStopEndsFetch). The same pass asks the backup of each
//     proxy naming this node its primary for the value (its node restarted without its
//     MSG_STOP reaching a Java backup, which does nothing on the MSG_START of a member it
//     lists), as Java's get of a proxy would, and holds it as the primary again
//     (Config.MadePrimary is called); before, the values were lost once that backup left
//     (TestRestartedPrimaryAsksJavaLikeBackup, interop/maps
//     TestGoPrimaryRestartedJavaBackup). A Go backup takes such entries over on the
//     MSG_START (above), and what it publishes replaces what the pass made of them, in
//     either order (TestFetchAndTakeoverMadePrimaryRace). A MSG_BACKUP makes the entry
//     it names a backup here also when this node is its primary, as Java's
//     messageReceived does (an old primary becomes the backup of the node that took its
//     entry over), so two crossing MSG_BACKUPs leave each node the other's backup and
//     none the primary: this map, the primary after the fetch, sending the value (a
//     Replicate) while the backup's takeover reaches it, its MSG_BACKUP reaching the
//     backup after the takeover. Replicate then sends nothing from either node; a Get on
//     either takes the entry over again, the other its backup
//     (TestFetchTakeoverThenReplicateLeavesNoPrimary: the fetched value's clock is
//     unknown, so the order of writes below does not apply).
//   - Go nodes order the writes of a key, where Java applies every publish as it comes:
//     a Put gets a Lamport clock, one more than the largest the map made or heard of,
//     carried with the write's stamp (below) in the diffvalue of a MSG_BACKUP or
//     MSG_COPY in full and of a MSG_PROXY (a field Java writes null there and reads only
//     for a diff). A Replicate, a takeover, a Get on the backup and a republish pass
//     send the value with the entry's clock: a Replicate reaches the backup nodes only,
//     and a larger clock would order it after the writes of nodes that never heard of
//     it (TestPutsBackupCrossedByTheOldPrimarysReplicateKeepsThePut,
//     TestDeparturePassOfAReplicatedValueReachingThePutsBackupLateIgnored). A Go node does not apply a
//     MSG_BACKUP, MSG_COPY or MSG_PROXY whose write came before that of the value its
//     entry names (a smaller clock), counted in Stats.OlderIgnored and acknowledged: a
//     departure pass's publish reaching the backup of a newer Put after that Put's
//     (TestDeparturePassBackupReachingThePutsBackupLateIgnored), a publish anew crossed
//     by a third node's Put (TestKeptValueRestoredCrossedInFlightByAThirdNodesPutKeepsIt).
//     One from a backup node the entry names is applied as before: its takeover (a Get
//     there) publishes the value it holds, which may lag a Replicate whose send failed
//     or is under way (TestOlderPublishOfTheEntrysBackupNodeApplied).
//     A clock is unknown (0), and orders nothing, for a Java node's message, a Go node's
//     of the previous version (its stamp without a clock, still read), a state
//     transfer's entry (a Go donor's first one carries the donor's map clock,
//     unordered, which the joiner hears of:
//     TestJoinersPutCrossedByTheOldPrimarysReplicateKeepsThePut), a value a proxy's Get or a restarted map's fetch took from
//     another node's reply, and a Replicate of such an entry; a diff carries no clock,
//     and its receiver keeps its entry's. Writes of one clock are not ordered, applied
//     as they come, and a Remove's MSG_REMOVE carries no clock. A resend of the
//     primary's value crossing another node's Put that heard of its clock is not
//     applied on that Put's backup (TestPutOnAnotherNodeRacingAResend). A Put on a node
//     holding no entry of the key sends no MSG_REMOVE (as Java's), and other nodes may
//     hold entries of larger clocks it never heard of (their publish refused over its
//     limits): its publish is unordered, applied whatever their clock, its receivers'
//     clock unknown (TestPutOfANodeHoldingNoEntryAppliedOverEntriesItNeverHeardOf).
//   - Local operations are never refused: Put, and a Get that fetches a value from its
//     backup, store their entry past the limits, and it counts towards them. The bound
//     is on what peers impose; what the application stores is its own choice, which it
//     can watch with Stats, and a local Put failing where Java's never does would make
//     every caller handle an error that only a misbehaving peer causes.
//   - A received diff for a held value that is not a Diffable keeps the value as it
//     was, is counted in Stats.DiffsNotApplied and logged, rate-limited per peer (Java
//     ignores it); one that ApplyDiff rejects is counted the same way and its error
//     wraps ErrDiff (a synchronized-ack sender gets a FAIL_ACK). One for a key the node
//     holds no value of (no entry, or a proxy) is counted the same way, creates or
//     changes no entry, and its error wraps ErrDiff, so that a Go sender's next
//     Replicate sends the value in full; Java makes an entry without a value of it,
//     which a Get then takes over with no value (TestDiffForNoValueRefused). A diff does
//     not change what the entry counts towards MaxStoredBytes.
//   - MapOwner is Config.MadePrimary, a function (objectMadePrimary); a value's access
//     replication (isAccessReplicate, setLastTimeReplicated, accessEntry) is the
//     optional interface AccessReplicated: Replicate sends MSG_ACCESS for an unchanged
//     value that asks for it, and a received MSG_ACCESS or MSG_NOTIFY_MAPMEMBER calls
//     the held value's Accessed. Config.Removed, which Java has not, tells of entries a
//     member removed (a replicated map of signed-on users learns of a sign-off).
//   - In a replicated map, an entry another node took over (MSG_NOTIFY_MAPMEMBER naming
//     another primary) is held as a copy: a later Get takes it back, so that a
//     Replicate reaches the other nodes. By its source, Java keeps it primary, with
//     itself as the only backup node, so that its replicate reaches no other node. A
//     copy naming a member its primary that a MSG_NOTIFY_MAPMEMBER from that member
//     names the local node's is the primary again: the member's departure pass, whose
//     own message made it a copy after this node's Get took the entry over, stepped
//     aside (TestReplicatedGetDuringTheDeparturePassLeavesOnePrimary).
//   - A lazy map's departure pass that steps aside for a member that took the entry over
//     while it published it asks that member, with a plain (not RPC) MSG_RETRIEVE_BACKUP
//     naming it the primary, to send its value again to the backup nodes the pass's
//     MSG_PROXY reached, which it may have turned into proxies; a Go primary of the
//     entry then runs a Replicate in full of it on a goroutine of its own
//     (TestGetNamingAThirdMemberDuringTheDeparturePassOverTCP). Java sends
//     MSG_RETRIEVE_BACKUP only as an RPC and ignores a plain one.
//   - A Go node answers an RPC for an id it has no rpc.Channel for only while some
//     rpc.Channel is open on it (package rpc); a Go node without any makes a map's Start
//     wait RPCTimeout for it only when no map member answers MSG_INIT (the MSG_START
//     waits for the map members alone: TestStartWithMemberWithoutRPC). New registers the
//     map's own rpc.Channel, so Go nodes that create their maps before starting them
//     answer each other at once.
//   - Get returns an error wrapping ErrUnavailable where Java returns null after logging
//     that the backup did not answer, and also when the backup answers without a value
//     (it holds the key as a proxy), where Java takes the entry over with none
//     (TestGetBackupAnswersWithoutValue). When the backup answers null (it holds no entry
//     for the key, which Java's get cannot tell from no answer), the error wraps ErrNoEntry
//     too (TestProxyGetOfRemovedEntryIsNoEntry).
//   - Stop returns the MSG_STOP's send error (Java ignores it), but not a FAIL_ACK from a
//     channel member that runs no such map (never joined, or stopped before: it sent its
//     MSG_STOP), which a Go channel answers when no listener takes a synchronized-ack
//     message (channel.ErrUnaccepted; over TCP the FAIL_ACK carries no reason, so map
//     membership decides): a clean shutdown with synchronized-ack SendOptions is no
//     error (TestStopAfterPeerStoppedIsClean, TestStopWithMemberWithoutMap,
//     TestStopReasonlessFailAck). A FAIL_ACK from a map member is still reported. When
//     its context ends while a republish pass (a departed member's, a MSG_START's) still
//     runs, Stop's error wraps the context's error, and a later Stop waits for it; such a
//     pass sends no MSG_BACKUP once it sees the stop (TestStopWaitsForAMemberStopPass,
//     TestLaterStopWaitsForTheStartPass).
//   - A MSG_BACKUP, MSG_COPY, MSG_PROXY, MSG_ACCESS or MSG_NOTIFY_MAPMEMBER from a member
//     after its MSG_STOP (a change of its still under way as it stopped) is refused with
//     an error wrapping ErrMemberStopped (FAIL_ACK to a synchronized-ack sender), counted
//     in Stats.RefusedStopped, until a MSG_INIT or MSG_START of a new map there, or until
//     the channel drops the member (the map then forgets its MSG_STOP, and a message of
//     the member listed again is applied: TestRefusalAfterStopEndsWhenChannelDropsMember):
//     Java applies it, and a backup that took the entry over becomes a backup of the
//     stopped node again, the entry having no primary (TestMessageAfterStopRefused). Its
//     MSG_REMOVE is applied.
//   - A primary or backup that a MSG_PROXY turns into a proxy (another node's Get or Put
//     took the entry) drops the value it held; Java keeps it, a copy that no longer
//     changes, returned by its put and remove (TestDemotedPrimaryDropsValue). One
//     exception: a primary a local Put stored while the replaced entry's primary may
//     still run a departure pass of it (one of that entry's backup nodes had left)
//     keeps the value that member's first MSG_PROXY drops, not as a value it holds
//     (Peek, Get, Len and the state list see a proxy) but counted in its StoredBytes,
//     until the next message of the key, a local call taking the entry, or Stop (not
//     for its age; a Put's mark goes on the pass's request, when its node leaves, or
//     when the pass's MSG_PROXY came during the Put, else on a heartbeat after
//     AccessTimeout: TestPutMarkClearedWhenThePassEnds); a plain MSG_RETRIEVE_BACKUP from that member naming the
//     node the primary (its pass stepping aside), however late, makes it the primary
//     again and has its Replicate send the value in full, and that member leaving the
//     map first has the node publish it anew when its MSG_PROXY named a backup other
//     than the Put's (else that backup holds the value, and the node drops its own;
//     TestKeptValueRestoredOverThePassBackupsOlderValue). When that backup sees the
//     member gone first (killed) and takes the entry over with the pass's older value,
//     its publish reaches the node while the node still counts the member: Go nodes
//     carry a stamp naming each write of a value (a Put's, a Replicate's) in the
//     MapMessage's diffvalue of a message that is not a diff, which Java writes null
//     and never reads there; the pass's MSG_PROXY told the node the stamp of the pass's
//     value, and a publish with that stamp by another member (a takeover or a Get of
//     that older value) makes the node the primary of the kept value again, published
//     anew (TestKeptValueRestoredWhenThePassBackupSeesThePassNodeGoneFirst,
//     TestStampNamesTheWriteNotThePublish, TestStampOnTheWire; with clocks known, the
//     pass's messages, older than the Put, are not applied at all: see the order of
//     writes above). Not done when the pass
//     is a Java node's (its messages carry no stamp): that publish drops the kept value
//     as any other member's message does, and the acknowledged value is lost
//     (TestKeptValueLostWhenAJavaPassBackupSeesThePassNodeGoneFirst, pinned).
//     At most 4096 values and 64 MiB of them are kept at once; past that the MSG_PROXY
//     drops the value
//     (TestPutOnAThirdNodeDuringTheDeparturePass,
//     TestKeptValueOfAPutDemotedByAPassingPrimary, TestPutMarkClearedByTheHeartbeat,
//     TestKeptValueRestoredWhenThePassingPrimaryLeaves, TestKeptValuesBounded,
//     TestStopDropsKeptValues). A Get on a proxy while a republish of the key runs
//     on the node waits until it ended, so that such a request, built before the Get,
//     does not follow the Get's MSG_PROXY
//     (TestGetOnTheProxyAPassSteppedAsideWaitsForItsRequest).
//   - A proxy whose primary and backup node have both left the map is dropped,
//     whichever left first: no node holds its value. Java drops it only when the backup
//     goes after the primary (TestProxyDroppedWhenPrimaryAndBackupLeft).
//   - Remove sends MSG_REMOVE also for a key the local node holds no entry of (it missed
//     the key's MSG_PROXY, or refused it at MaxEntries), so that the key goes from the
//     nodes that hold it; Java 10.1's remove sends nothing then.
//   - A lazy map's primary that another member's MSG_REMOVE drops sends its other backup
//     nodes a MSG_REMOVE naming itself as the primary, from a goroutine of its own: a
//     full Replicate that crossed the Remove no longer leaves the backup holding the
//     value for a primary that holds nothing (TestReplicateDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing).
//     A Go node drops on it only a backup or proxy of that primary's; Java sends nothing
//     more on a MSG_REMOVE, and a Java node drops the key on any: also the key of a put
//     the Java node made after the Remove returned and before that MSG_REMOVE reached
//     it, its own entry then, the Go nodes still naming it the primary (a known
//     limitation: TestForwardedRemoveDropsAJavaPutMadeAfterTheRemove, interop/maps).
//     Each backup node has a queue of these removals, of at most
//     Config.MaxForwardQueue (DefaultMaxForwardQueue, 16384) not sent yet, sent by at
//     most Config.MaxForwarders goroutines together (DefaultMaxForwarders, 8; Java has
//     no such bound): a backup node whose sends block delays only its own
//     (TestForwardSlowBackupDoesNotDelayAnother) while fewer than that many nodes block
//     at once; another node's queue then waits until a goroutine is free
//     (TestForwardersBoundedAndAWaitingQueueTakenOver, TestForwardersAtTheConfiguredCap),
//     and after each send a goroutine
//     serves the queue waiting the longest before its own next one, so that a backup
//     node whose sends block holds a goroutine for one send at a time
//     (TestForwarderBlockedOnABackupServesAWaitingQueueAfterASend). A removal past the
//     queue's bound is not sent and is counted in Stats.ForwardedRemovesDropped: the
//     backup node may keep its backup of the removed key, for a primary that
//     holds nothing, a Get there returning the removed value, until a Remove of the key
//     drops it or a Put of the key replaces it (TestForwardQueueBoundedDropsCounted;
//     Java forwards no removals, so has no such bound). A failed send is counted in
//     Stats.ForwardedRemovesFailed and logged, rate-limited per backup node
//     (TestForwardFailuresCountedAndRateLimited). The send holds the key's send lock
//     and goes only while the node holds no entry of the key as its primary, nor a
//     backup or proxy another member's Put gave it since unless a send of the key by
//     the node was under way when the removal came (with OptAsync through the message
//     dispatch interceptor, one the dispatch queued and has not completed counts, and
//     the removal waits for it: TestForwardedRemoveCoversAnAsyncReplicateStillOnItsWay;
//     then a Replicate in full of the node's, of unknown clock, that crossed that Put
//     on the backup is dropped there, where the backup kept the older value, and that
//     Put's backup stays lost until its primary's next Replicate in full; with the
//     clocks known the backup did not apply it and keeps the Put's backup:
//     TestPutOnAnotherNodeRacingAResend; without such a send the
//     removal, which a Java backup would apply to that Put's backup, is not sent:
//     TestForwardedRemoveAfterANewPutOnAnotherNode, and interop/maps'
//     TestForwardedRemoveKeepsAJavaBackupOfANewerGoPut): a Put of a key waits for
//     a removal of the same key being forwarded to a slow backup, up to one send
//     timeout, so that the removal cannot reach the backup after the Put's copy
//     (TestPutOfAKeyWaitsForAForwardOfIt; a Put of another key does not wait:
//     TestPutOfAnotherKeyDoesNotWaitForAForward; one whose ctx ends while it waits
//     returns ctx's error: TestPutWaitingForAForwardOfItsKeyEndsWithItsContext). A
//     republish of the key waits for one under way: it never drops a backup that a
//     republish made after it (TestForwardedRemoveDoesNotDropARepublishedBackup).
//   - Replicate makes a nil error mean that the changes reached the backup nodes, where
//     Java's replicate does nothing for an entry without backup nodes and loses the
//     changes of a diff it failed to send: an entry without backup nodes while the map
//     has members (its Put, or a Get on its backup, found no member to take it), or
//     whose backup nodes all left the map before it named them and were not replaced
//     (TestReplicatePublishesAnEntryWhoseBackupNodesAllLeft), is published in full
//     first, after a republish of the key under way such as a departure's
//     (TestReplicateAndADeparturePassRepublishOneAfterTheOther: two together could each
//     turn the other's backup into a proxy), and not at all when that republish gave it a
//     backup node that is a map member (the changes then go there: one MSG_BACKUP in
//     all, the same test), with an error wrapping ErrNoBackup when
//     no member takes it (TestNoBackupErrors),
//     and after a failed send, or a failed Diff
//     (TestDiffErrorSendsInFullNext), the next Replicate sends the value in full,
//     forgetting its changes with a Diff (the full value holds them); a change
//     made while it marshals that value reaches the backup nodes once, in the value or
//     in a later diff (TestReplicateFullValueChangedWhileMarshalledSentOnce). A dirty
//     Diffable that the primary sends in full otherwise (Put, a republish, a replicated
//     map's state transfer, its answer to a MSG_RETRIEVE_BACKUP, a Get on the backup),
//     whose changes its next Diff holds still, is sent in full again by the next
//     Replicate, not as that diff, which would apply them twice where the value went
//     (TestFullValueOfDirtyDiffableNotFollowedByItsDiff,
//     TestRetrieveBackupAnswerOfDirtyDiffableNotFollowedByItsDiff,
//     TestGetOnBackupOfDirtyDiffableNotFollowedByItsDiff); Java sends the diff.
package replmap
