// Package mcast is multicast membership for a channel, wire-compatible with Tomcat Tribes'
// McastService: every node sends its member record to a multicast group every Frequency
// (500 ms) and drops members it has not heard from for DropTime (3 s). Java and Go nodes
// in the same group see each other.
//
// # Usage
//
//	cfg := mcast.DefaultConfig()
//	cfg.Bind = "10.0.0.5"        // the interface to send on and join on: required
//	cfg.Address, cfg.Port = "228.0.0.4", 45564
//	ms, err := mcast.New(cfg)
//	ch, err := channel.New(channel.Config{Transport: tr, Membership: ms})
//
// There is no default interface: a configuration without Bind or Interface is refused,
// so that heartbeats never leave on whatever interface the default route uses.
// DefaultLocalConfig uses 127.0.0.1, for nodes on one machine.
//
// The service is also a channel.Broadcaster (OptMulticast messages go to the group as one
// datagram, at most 65507 bytes of frame) and a channel.LocalMemberUpdater (the channel's
// SetPayload and SetDomain reach the next heartbeat, which is then sent at once).
//
// # Behaviour
//
// As in Tribes: a heartbeat datagram holds exactly the member bytes; a node's last packet
// carries the BABY-ALEX command and makes the others drop it at once; a known member's
// alive time, payload and command are refreshed by each heartbeat, its domain is not;
// members of every domain are kept (filter with the domain interceptor); a datagram that
// is not a member record is parsed as frames and each message not sent by this node is
// handed up the channel. Socket errors are counted and after RecoveryCounter in a row
// the socket is re-created every RecoverySleepTime, on the interface Bind or Interface
// names as it is then: one deleted and created again (a new index) is found again.
//
// Unlike Tribes, which takes every heartbeat's alive time, a member's age (and so the
// oldest-first order) follows the earliest start its heartbeats show, so that network
// delay does not make it look younger. An alive time lower than that start gives by
// more than Frequency, and no longer than the silence since the member's previous
// heartbeat (plus Frequency), is the member restarted with the same id: its new age is
// taken. A drop that does not fit in that silence, or a negative alive time, is the
// member's wall clock stepping back (a Java node's alive time is its clock less its
// start): it keeps its age. As in Tribes a restarted member is the same member, and
// listeners are not told of the restart.
//
// Where it does better than Tomcat: the first heartbeat goes out at once and a node that
// sees a newcomer answers at once, so a joining node is seen and sees the group within
// milliseconds instead of up to Frequency; expiry happens exactly DropTime after the last
// heartbeat instead of up to a receive timeout later; and a node whose own process was
// paused (stop signal, long GC) does not expire the whole group when it resumes.
//
// # Concurrency
//
// Membership events are delivered from one goroutine per run of the service, one at a
// time and in the order they happened, never while a lock is held; a run started while
// the previous run's listener call is still going on (its Stop gave up waiting, or the
// Start came while Stop waited) delivers its first event after that call returned, and
// each Stop waits for its own run only. Broadcast messages are handed up
// from another goroutine, in arrival order. Members, Member, Broadcast and Stats may be
// called from any goroutine. Do not call Stop from a membership listener: Stop waits for
// the event goroutine to finish.
//
// # Wire compatibility
//
// Member records and frames are package wire's; docs/membership.md explains the choice
// of interface, ports and drop time.
package mcast
