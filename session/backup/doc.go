// Package backup puts Go nodes into a cluster of Tomcat nodes whose sessions are kept by
// Tomcat's BackupManager: every session lives on its primary node (the one that served
// it last) and one backup node, in a LazyReplicatedMap named "<manager name>-map"
// (package replmap), and each request's changes travel to the backup as a diff. A Tomcat
// shop can move its web tier to Go one node at a time: a session created on Tomcat is
// served by Go and the other way round, without logging anyone out.
//
//	ch := ...                                            // a started channel.Channel in the Tomcat cluster
//	m, err := backup.NewManager(backup.Config{Channel: ch, Name: "localhost#/app",
//		JvmRoute: "go1", CookiePath: "/app"})
//	if err != nil { ... }
//	if err := m.Start(ctx); err != nil { ... }           // joins the map, takes its keys
//	http.ListenAndServe(addr, m.Wrap(mux))
//
// In a handler:
//
//	q := backup.FromContext(r.Context())
//	s, err := q.Create()                // or q.Session(): nil when the request has none
//	n, ok, err := s.Get("counter")      // a java.lang.Integer reads as an int
//	err = s.Set("counter", n.(int)+1)   // recorded for the diff
//	err = q.Invalidate()                // on logout: removed from every node
//
// # Requests
//
// Manager.Wrap reads the JSESSIONID cookies: of a request with several (a stale one of
// another path first), the first that names a session, trying at most four, as Tomcat's
// CoyoteAdapter tries each (TestSeveralSessionCookies); a request without one may name
// its session in its URL path, ";jsessionid=<id>" (Tomcat's URL session tracking), which
// the handler's URL no longer shows (TestURLSessionID); EncodeURL writes it into a
// page's links for clients that keep no cookies (Tomcat's encodeURL; TestEncodeURL). A handler's Session or Create
// gets the session from the map: a node holding a proxy fetches it from its backup
// (MSG_RETRIEVE_BACKUP) and becomes its primary, the node holding the backup becomes
// the primary and picks a new backup, as Tomcat's findSession does; the session is then
// marked used and primary (BackupManager.objectMadePrimary). Create makes a session
// with a random id (32 hexadecimal digits, as Tomcat's) and ".JvmRoute", puts it in the
// map (its backup gets it in full) and sets the cookie (HttpOnly, Secure under TLS,
// Config.CookiePath); it fails with ErrResponseCommitted once the handler has written
// the response. Before the response's first byte leaves (or when the handler returns
// without writing), the session is marked used and Manager.Replicate sends what the
// request did to its backup (Tomcat's ReplicationValve and
// BackupManager.requestCompleted): its changes as a DeltaRequest diff, MSG_ACCESS when
// nothing changed and it was not replicated for its max inactive interval, otherwise
// nothing. The map sends with BackupManager's options (USE_ACK and SYNC_ACK), so a client
// that got the handler's response knows the backup applied the diff; when the send
// fails, the client gets 503 Service Unavailable instead (without the headers the handler
// set for its body: Content-Encoding, Content-Disposition, ETag, ...) and the handler's
// writes return ErrNotReplicated, and the next request's replication sends the session in full, so
// that the failed request's changes reach the backup too. Concurrent requests of one
// session on its primary replicate one at a time, so that the backup applies their
// diffs in the order they were taken (TestConcurrentRequestsReplicateInOrder). A session whose creation
// found no backup (no map member took it) is published with its next request, or that
// request gets 503 (replmap.Map.Replicate). A request that changed its session while
// another node took it over (a concurrent request there made that node the primary), or
// while it was removed, gets 503 too: the map sends nothing for a session this node no
// longer serves, so the changes are on no other node (ErrNotPrimary;
// TestTakenOverDuringRequest), and so does one whose replication ends after
// Manager.Stop started: its diff may reach the backup after the backup took the session
// over and passed its copy on without it (TestStopDuringReplicate). Changes made after
// the response started are sent when the handler returns.
//
// A request whose session id carries another node's route (the load balancer failed
// over to this node) gets the session renamed to this node's route, as Tomcat's
// JvmRouteBinderValve does: Manager.ChangeSessionID puts the session under the new id and
// then removes the map's entry under the old one on every node, and the response sets the
// new cookie; Request.OriginalID returns the old id. A request with the old id during the
// rename (a page's parallel requests) finds the session, not a new one, and gets the new
// cookie; it answers 503 when it changed the session before the rename reached the backup
// (TestRequestDuringRename). A node whose manager starts during a rename, after the map's
// donor took its snapshot, finds the session under its new id and not under its old
// (TestRenameDuringJoin; the map's joiner applies the changes made while it joins, see
// package replmap). A client whose new cookie was lost comes
// back with the old id and finds the session under this node's route, or under the route
// of the node that renamed it (which died, or answered with an error, before its response
// left), and this node takes it over (Tomcat's valve does not look), also when the old
// id's route is this node's (TestOldIDBackToItsOwnNode). The routes are those
// of the map's session ids, read from its keys at most every 5 s. The rename is off
// without a JvmRoute or with Config.DisableJvmRouteBinder; once the response has started
// the session keeps its id. Tomcat nodes with the valve rename sessions the same way, and
// the map carries their renames too. The listeners attached to a session
// (Session.AttachListener, a Tomcat ClusterSingleSignOnListener's single sign-on id) hear
// through Config.NamedListener (SessionListener) of its rename, invalidation and expiry
// on this node: sso.SSO's BackupListeners keeps the user's single sign-on entry in step.
//
// # Sessions
//
// Session is Tomcat's DeltaSession as the map holds it: id, times, max inactive
// interval, the new flag, version, principal, attributes, the authentication notes and
// the replicated listeners DeltaSession writes. Attribute values are Java serialization
// streams, read and written as Go values by delta.JavaValueCodec (String, boxed
// numbers, Boolean, byte[], Date, lists, sets, maps; objects of other classes are
// carried as they came). Codec converts it from and to the Java-serialized DeltaSession
// the map carries (replmap.Config.Values, MapConfig). A Session implements
// replmap.Diffable (its diff is DeltaSession.getDiff's DeltaRequest stream) and
// replmap.AccessReplicated. Its Set and Remove take constant amortised time, whatever
// the number of attributes (TestSetManyAttributesScansNothing,
// TestRemoveManyAttributesLinear). A session received in full whose stream names an
// attribute more than once holds it once, with the last value, at the name's first
// place, as Tomcat's readObject reads it (each attribute put into its map in order): Get,
// Set, Remove, AttributeNames and its own full copy agree with catalina-ha
// (TestFullCopyWithAnAttributeTwice; interop/tomcat
// TestTomcatReadsARepeatedAttributeName).
//
// # Expiry
//
// Every Config.ExpireInterval (60 s) the manager removes, from every node, the sessions
// it is the primary of that were not used for their max inactive interval
// (Config.MaxInactive, 30 minutes), and the backups it holds after twice that (their
// primary is probably gone), as DeltaSession.isValid does. A request for a session
// that expired so on the node it reaches removes it and finds none, also when a member
// misses the removal (a dead node still listed; it is logged). A node that becomes a
// session's primary marks it used (objectMadePrimary), unless the copy it took over was
// idle for twice its interval: that one it expires, and a request that fetched it from
// another node finds none (TestFindExpiredOnAnotherNode; Tomcat marks it used). A
// session a request on this node holds (it found or created it) is not expired before
// that request ends, whose response marks it used, as Tomcat measures idleness from the
// start of the request that uses the session (TestSweepSparesSessionInUse). The sweep finds a session expired and
// removes it as one step for requests: a request that looks it up meanwhile finds none
// (TestSweepCheckAndRemoveAtomic).
//
// A session whose max inactive interval is 0 or negative never expires, as in Tomcat
// (Session.SetMaxInactive(0) sets -1; a Tomcat node's setMaxInactiveInterval(0) sends 0:
// TestMaxInactiveZeroNeverExpires, TestMaxInactiveZeroFromTomcat). Unlike Tomcat's
// isAccessReplicate, which asks for MSG_ACCESS with every request of a session whose
// interval is 0, the primary sends none for such a session: its backup never expires it.
// Intervals travel in whole seconds, as Tomcat's: a positive one below a second is one
// second, and Config.MaxInactive below a second is refused.
//
// # Limits
//
// Every stream is decoded with Limits.Java's bounds (jserial's depth, handle and
// length limits; at most MaxEntries attributes or actions), and a session's full copy
// and its diffs are encoded with them, as a node configured alike reads them
// (TestEncodeWithTheConfiguredLimits): Set refuses an attribute value beyond them with
// an error wrapping delta.ErrMessageLimit, the session unchanged
// (TestSetPastLimitsRefused), and a diff whose values go beyond them only together (one
// handle table for them all) leaves out those that do not fit, which the session keeps
// (each value kept fits with those kept before it; with MaxHandles left 0 they are
// fitted under jserial.DefaultMaxHandles handles: TestDiffFitsUnderAFixedHandleLimit):
// Manager.Replicate sends the others and returns an error wrapping
// delta.ErrMessageLimit naming them, counted in Stats.ChangesDroppedPastLimits, and the
// later diffs go out (TestDiffPastLimitsTogetherLeavesOut); a full copy carries them, and
// then they are not reported (TestFullCopyCarriesWhatADiffLeftOut), but for those it
// left out itself (TestFullCopyKeepsTheDiffReportOfWhatItLeftOut), or when the
// Replicate fails (here its full copy's send): that Replicate reports them
// (TestFullCopyWhoseSendFailsKeepsTheDiffReport); ChangeSessionID's full copy is
// settled by its own Put's send (TestRenamePutThatSentSettlesTheCarriedReport). Changes
// without a value that alone
// are more than MaxEntries fit no diff: Session.Diff returns an error wrapping
// ErrTooManyChanges and forgets them, and Manager.Replicate sends the session in full
// instead (TestTooManyChangesWithoutAValueGoInFull). A value past them in
// a session received in full is left out of its full copy, the others sent, and
// Manager.Replicate reports it likewise, counted in Stats.FullCopyValuesLeftOut as the
// full copy is made (TestFullCopyLeavesOutAValuePastLimits,
// TestFullCopyValuesLeftOutCountedWhereTheyHappen), also after a full copy that failed
// (TestFailedFullCopyKeepsTheReportOfTheLastOne); so are values within the limits alone
// that a backup with the same limits would refuse together (their Go forms past
// Limits.Java.Limits.MaxBytes, more attributes than MaxEntries), each value, in the
// session's order, going when it fits with those kept before it
// (TestFullCopyPastLimitsTogether, TestFullCopyPastMaxEntries): before, such a full
// copy went whole, the backup refused it and held no copy of the session. So are the
// listeners past MaxEntries, which such a backup refuses too: the first MaxEntries go,
// the others are reported and counted alike (TestFullCopyPastMaxEntriesOfListeners). A
// full copy is fitted too under the limits its backup's map reads the session's stream
// with (Codec.MapLimits: a Manager's map's replmap.Config.Limits), one handle table for
// all its attribute names and values, notes and listeners (two handles each): the
// attributes, notes and listeners past them together are left out by first fit, in that
// order, and reported and counted alike (TestFullCopyPastTheMapsMaxHandles: 40 listeners
// under the map's MaxHandles 50 went whole, and the backup refused the session); each
// value is read alone with the map's MaxArrayLen and its MaxDepth less one (the stream
// nests it one deeper) where they are tighter than Limits.Java's, a value past them left
// out and reported alike (TestFullCopyWithinTheMapsArrayLenAndDepth). A session's attribute
// and note values together are bounded by Limits.MaxSessionBytes (16 MiB), which
// neither a diff nor a Set can exceed: a diff that would is refused with ErrLimit and
// the session stays as it was. A received diff that would attach more listeners than
// Limits.Java.MaxEntries is applied with the first MaxEntries (those the session held
// first: once a Tomcat primary detached some, not always the primary's first, as a
// listener left out is not taken back: TestApplyDiffListenerLeftOutNotTakenBack), the
// others left out: counted in Stats.DiffListenersLeftOut and logged, once per
// session, as a warning; a failover to this node leaves them without the session's end
// (TestApplyDiffListenersBoundedByMaxEntries: refused whole before, its attributes too,
// a Tomcat primary holding more listeners went on sending diffs the backup refused). A
// Go primary's Diff leaves such listeners out itself, and Manager.Replicate reports
// them as the values a diff left out (TestDiffLeavesOutListenersPastMaxEntries).
// Decoding a session received in full is bounded by its
// size: its values' Go forms (each attribute its own stream) may take at most
// Limits.Java.MaxExpansion (delta.DefaultMaxExpansion, 16) times the session's stream
// plus 128 KiB, beyond which the error wraps delta.ErrDecodeBudget. Of a diff's principal actions only the last is decoded
// (it alone counts); a diff of more than a few actions looks names up in maps, so that
// it applies in time linear in its actions. The map's own limits (replmap.Config.MaxEntries,
// MaxStoredBytes) bound the sessions and bytes other nodes can make it hold; set them
// with Config.Map.
//
// # Not done
//
// Session listeners, attribute listeners and notes are replicated as Tomcat writes them.
// A Go handler cannot set notes or attribute listeners, and of session listeners it
// attaches only named ones (Session.AttachListener: a single sign-on id). The principal and the authentication type it can
// (Session.SetPrincipal, SetAuthType); Tomcat's full DeltaSession stream carries no
// authentication type, so a node that receives a session in full has none until a diff
// sets it, as between Tomcat nodes. Config has no equivalent of BackupManager's other
// attributes.
package backup
