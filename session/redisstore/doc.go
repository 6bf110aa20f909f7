// Package redisstore keeps HTTP sessions in Redis, so that nodes behind a load balancer
// without stickiness share them and a node that restarts loses nothing: the place of
// Tomcat's PersistentManager with a Store, memcached-session-manager in non-sticky mode
// or Redisson's Tomcat session manager, for net/http.
//
//	            ┌──────────── net/http ─────────────┐
//	request ──► Middleware ──► handler (FromContext: Get, Set, Update, Invalidate, ChangeID)
//	            │ cookie → Store.Load (GETRANGE)      │
//	            └─ before the first byte: Store.Save (compare-and-set script, TTL)
//	                      │
//	                    Redis: KeyPrefix + Name + ":" + id → version | session
//
// # Usage
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	st, err := redisstore.New(redisstore.Config{Client: rdb, Name: "localhost#/app"})
//	if err != nil { ... }
//	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
//	http.ListenAndServe(addr, mw.Wrap(mux))
//
// In a handler, the calls are session/delta's:
//
//	sess := redisstore.FromContext(r.Context())
//	n, _ := sess.Get("count")
//	err := sess.Set("count", count+1)           // creates the session if needed
//	id, err := sess.ChangeID()                  // on login
//	err = sess.Invalidate()                     // on logout
//
// # Why a store of its own, not a Store under delta.Manager
//
// delta.Manager holds every session in memory and keeps the copies current by
// replication: its table is the truth. With an external store and a balancer without
// stickiness, Redis is the truth and any copy a node kept would be stale as soon as
// another node served the session; each request would have to read Redis anyway. So
// this package keeps no session in memory at all: the middleware loads the session from
// Redis when the request starts and saves it before the response starts. It reuses
// delta's pieces: the handler API (Request and Session have delta's method names), the
// ValueCodec for attribute values (delta.GobCodec, or delta.JavaValueCodec) and
// delta.BinaryCodec with its limits for the stored bytes. It needs no channel; it can run
// beside a delta cluster for other applications.
//
// # Requests
//
// A request with a session cookie, or without one but with ";jsessionid=<id>" in its
// URL path (Tomcat's URL session tracking, removed from the handler's URL;
// TestURLSessionID; EncodeURL writes it into a page's links, Tomcat's encodeURL),
// loads that session (one GETRANGE of at most MaxSessionSize) before the handler runs;
// if Redis does not answer, the handler does not run and the response is
// HTTPConfig.OnError's (DefaultOnError: 503 with Retry-After). A cookie naming no
// session (expired, invalidated) or a corrupt value is a request without a session.
// Before the first byte of the response leaves (WriteHeader, Write, Flush, Hijack, or
// the handler's return), a session that changed (or is new, or had its id changed) is
// saved; one that was only read gets its TTL renewed (PEXPIRE, unless a concurrent
// request saved the session since it was read), without a write. If the
// save fails, the handler's response is replaced by OnError's (without the headers the
// handler set for its body: Content-Encoding, Content-Disposition, ETag, ...) and its
// writes fail with ErrNotSaved: a client that got a successful response knows Redis has
// the session's changes. Changes made after the response started are saved when the handler returns,
// without that guarantee (a failure is logged). A handler that panics before its
// response started saves nothing; after, only what the commit saved is kept.
//
// Invalidate deletes the key at once (its error is the handler's, and the response
// becomes OnError's); ChangeID moves the session to a new random id, and the save moves
// the key in the same script, leaving for 5 minutes a forward (under the old key +
// ":moved") that an Invalidate of a concurrent request which loaded the old id follows
// (invalidation wins over a concurrent rename too). The old key itself is deleted, so
// that a node of a release before forwards, during a rolling upgrade, reads the old id
// as no session, not as a corrupt one (TestRenamedIDIsNoSessionToThePreviousRelease).
//
// # Concurrent requests
//
// Saves are optimistic: the stored value starts with a version, and the save script
// writes only if the stored version is still the one the request loaded (for a new
// session: if the key does not exist), incrementing it. Of two requests of one session
// that run at once (on two nodes, or on one: each request loads its own copy), the
// first to save wins; the other's save fails with ErrConflict and writes nothing, and
// the middleware answers 409 Conflict, so its client knows the change was not applied
// and may retry. Nothing is merged and no acknowledged write is lost; a session whose
// requests overlap often (a page firing parallel requests that write the session) sees
// 409s. Requests that only read never conflict. Session.Update is atomic within one
// request only.
//
// # Expiry
//
// The key's TTL is the session's max inactive interval (Config.MaxInactiveInterval, 30
// minutes by default; Session.SetMaxInactiveInterval changes it): Redis removes an idle
// session, and every request that uses it renews the TTL when its response starts, and
// again when its handler returns if that is more than a second later: the idle time
// counts from the end of the last request, as Tomcat's
// (TestLongResponseRenewsTTLAtTheEnd). Loading a session for a request counts as an
// access too: the middleware's load extends a TTL shorter than a minute to a minute, so
// a session loaded just before its idle time ran out is not removed under the request
// (TestSessionLoadedBeforeItsExpiryOutlivesTheRequest); a request that neither saves nor
// renews it (its handler panicked before the response started) may leave it up to a
// minute longer than its interval. A session that never expires (a negative interval)
// has a key without TTL. No sweep runs and no listener fires on expiry.
//
// # Stored format
//
// The value under a session's key is an 8-byte big-endian version and a delta.BinaryCodec
// message EVT_ALL_SESSION_DATA (a state transfer chunk) of the store's Name holding the
// one session, with the same version (the layout is in delta.BinaryCodec's documentation),
// and a random token of the save as its UniqueID (no two saves write the same bytes),
// which the save also records under the session's key + ":saves" (see Redis down). Decoding
// checks the version, the application name and the session id against the key, with
// limits (Config.MaxSessionSize, MaxValueSize, MaxAttributes, 4 KiB strings); any
// mismatch is ErrCorrupt, never a panic (FuzzDecode), and so is a version of 2^64-1,
// after which no save could follow (TestStoredMaxVersionIsCorrupt), and an attribute
// named twice (TestStoredDuplicateAttributeIsCorrupt).
//
// # Redis down
//
// Every Redis call is bounded by Config.Timeout within the caller's context (with a
// client created with ContextTimeoutEnabled; otherwise by the client's own timeouts) and
// fails with an error wrapping ErrUnavailable. A failed load or save answers 503; a save that
// timed out may still have been applied by Redis, but the client was not told it was.
// A save whose reply was lost with its connection, which go-redis sends again
// (MaxRetries), finds the record of its own write and succeeds instead of failing with
// ErrConflict, also when another request saved, renamed or invalidated the session in
// between (the write did commit, and was then replaced). The record (under the
// session's key + ":saves", a list of the latest 16 save tokens of the session) expires
// Config.Timeout plus a minute after the session's latest save; a resend after more than
// 16 later saves of the session is still ErrConflict.
// Durability is Redis's: without persistence (appendonly) or a replica, a restarted Redis
// has no sessions. A request whose session Redis lost while it ran fails its save with
// ErrSessionGone (an ErrConflict, as for a session another request invalidated): 409,
// whose body says the session no longer exists (TestSaveOfASessionLostByRedisIsSessionGone).
package redisstore
