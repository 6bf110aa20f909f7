// Package scsstore is a store for github.com/alexedwards/scs/v2 whose sessions live in a
// session/delta Manager: every node of the cluster holds every session, each commit
// replicates to the others (acknowledged by all of them before the response starts, with
// delta.ReplicateAcked), a node that starts gets the sessions from the running ones, and
// a balancer may send a client to any node. It is for applications that already use scs
// and want their sessions replicated in the cluster instead of kept in a database.
//
//	            ┌─────────── net/http ────────────┐
//	request ──► scs.SessionManager.LoadAndSave ──► handler (sm.GetString, sm.Put, ...)
//	            │ cookie → Store.FindCtx            │
//	            └─ before the first byte: Store.CommitCtx ── delta.Manager.Replicate
//	                      │ (session = the scs token, one attribute: expiry | scs's bytes)
//	                      ▼
//	            the other nodes' Managers (channel.Channel)
//
// # Usage
//
// Build a channel, a delta.Cluster and a started delta.Manager as session/delta's
// documentation shows (the manager's own middleware is not used), then:
//
//	st, err := scsstore.New(scsstore.Config{Manager: m})
//	if err != nil { ... }
//	sm := scs.New()
//	sm.Store = st
//	http.ListenAndServe(addr, sm.LoadAndSave(mux))
//
// # How sessions are kept
//
// A session is a delta.Session whose id is scs's token (Manager.CreateWithID), with one
// attribute, Config.Attribute ("scs"), holding the expiry scs gives (8 bytes, Unix
// nanoseconds, big-endian) followed by the bytes scs encoded. Its idle timeout is set to
// the time left until that expiry, rounded up to the second, so that the managers expire
// it on every node; Find also compares the expiry itself. Commit on a node makes the
// session primary there and sends the change as one delta (a new session first as
// EVT_SESSION_CREATED); Delete invalidates it on every node.
//
// scs writes the whole session on every commit. Two concurrent requests of one session
// that both change it on one node leave the one that commits last, as with every scs
// store; on two nodes at once, every node keeps the same one of the two commits (delta's
// last-writer-wins order of concurrent changes, see "Concurrent requests on two nodes" in
// its documentation; TestConcurrentCommitsOnTwoNodes), and the other's change is lost,
// as it would be on one node. A
// balancer that keeps a client on one node (stickiness) avoids the race;
// delta.Session.Update's read-modify-write is not available through scs.
//
// # Errors and availability
//
//   - While the manager's state transfer runs (a node that just started), FindCtx waits up
//     to Config.ReadyTimeout for it, then returns ErrNotReady: serving the request at once
//     would give a client whose session has not arrived yet a new, empty one.
//   - With delta.Config.ClusterSize, a node without the quorum (or standing down in a
//     partial partition) serves no session: Find, Commit and Delete return an error
//     wrapping delta.ErrNoQuorum (Manager.Serving), as delta's middleware answers 503.
//     scs passes store errors to its ErrorFunc (500 by default); map them to 503 there.
//   - A commit that the cluster did not acknowledge (acked replication) returns the
//     Replicate error; the change stays in the session here and goes out with the next
//     commit, as with delta's middleware.
//   - With delta.Config.ClusterSize, a commit of a session removed meanwhile (destroyed
//     by a concurrent request, or expired) returns an error wrapping
//     delta.ErrSessionIDInUse while the cluster keeps the removal's record: a logout is
//     not undone by a request that started before it.
//   - After the manager stopped: delta.ErrStopped.
//
// Commit and Delete are not abandoned when their context is cancelled: the change is
// made here first and must reach the other nodes (delta's middleware does the same);
// the channel's send timeout bounds them. They use that to join concurrent commits into
// one message per member (delta's group commit, with delta.BinaryCodec).
//
// A session's bytes may come from any member, and scs decodes them with its Codec
// (encoding/gob by default, which sizes a map for the count it reads): Find and All
// first pass them to Config.Check (CheckGob by default) and treat a session it refuses
// as not found (Stats.Malformed; a *Store is a metrics.Source as it is:
// metrics.Source{Name: "scsstore", Stats: st} gives tribes_scsstore_malformed_total).
//
// Tomcat cannot read these sessions: scs's bytes are its own encoding.
package scsstore
