// Package staticsvc is Tribes' StaticMembershipService for a Go channel: a configured
// list of members whose liveness comes from StaticMembershipProvider's member protocol,
// so that Go and Java nodes configured with static membership list each other.
//
// The protocol runs over the channel itself (the service is a channel.ChannelUser), with
// MemberMessage objects (Java-serialized, package jserial) whose membershipId is the
// ISO-8859-1 bytes of "<channel name>-StaticMembership":
//
//   - When both membership levels have started, every static member that accepts a TCP
//     connection within ConnectTimeout gets a MSG_START as an RpcChannel call (package
//     rpc) with ALL_REPLY and that same rpc id, waiting up to RPCTimeout. Every reply
//     carries the answering node's member, which becomes a member.
//   - Every PingInterval the reachable static members get a MSG_PING the same way;
//     then the members not heard from (request or reply) for ExpirationTime are dropped.
//   - A node receiving a START or PING takes its sender's member as alive and replies
//     with the same message carrying its own member.
//   - On stop, the members get a MSG_STOP (a plain send, not an RPC) carrying the local
//     member with the BABY-ALEX command, and drop the node once it is confirmed: a
//     STOP naming a listed member makes the node PING that member first (at most one
//     check per member at once, and per second while more STOPs come), and keeps it if
//     it answers with itself (Stats.StopsRefuted): anyone can send a STOP, and Tomcat
//     drops the member it names at once. A stopping node does not answer so: its RPC
//     channel is closed, a Java channel answers a NoRpcChannelReply, a Go node leaves a
//     responder answering the same for 10 s (rpc.ErrDeclined; a Service started on the
//     same channel meanwhile takes its rpc id over), and a stopped node's port
//     refuses connections, which the check watches for. For 10 s (twice
//     RPCTimeout if longer) a PING of that node, or its reply to one, arriving after its
//     STOP (sent before it on another connection, or late) does not add it again; its
//     START (the node restarted, with a new unique id or the same) does, and so does its
//     reply to a START or PING this node sent after the STOP arrived (a stopping node
//     closes its RPC channel before it sends the STOP: such a reply is its next run's).
//
// Anyone who reaches the receiver port can announce a member, and Tomcat keeps whatever
// is announced. A Service keeps at most Config.MaxMembers (1024) members and ignores a
// member whose payload is over Config.MaxPayloadSize (4096 bytes) or whose domain or
// command is over MaxNameSize (256 bytes); refusals are counted (Stats) and logged
// rate-limited per sender. Member messages are decoded within Config.Limits, the largest
// of the limits of the channel's rpc.Channels applying (TestConfigLimitsRefuseAMemberMessage). The view's changes wait for the membership listener in a
// queue coalesced per member once it is full, so that a held listener does not make it
// grow with every member that flaps or every invented member a stranger announces and
// stops: it stays within about 4 × MaxMembers events, and the listener is told what it
// needs to end with the service's view (TestHeldListenerEventQueueStaysBounded).
//
// All member messages are sent with SendOptions (Channel.SEND_OPTIONS_ASYNCHRONOUS, 8, by
// default), replies with none. They come from nodes that may not be members yet, so the
// service's rpc channel takes requests from non-members (rpc.Config.AcceptNonMembers) and
// the channel's sender check lets them through to it alone. Replies to non-members are
// sent off the receiving goroutine, a bounded number at once (rpc.MaxNonMemberReplies),
// and requests that are no member message are counted (Stats.BadRequests) and logged
// rate-limited per sender.
//
// Unlike membership/static, which lists its members without sending anything, this
// service notices crashed nodes by itself and is what a Java node configured with
// Tomcat's default static membership (<Membership className=
// "org.apache.catalina.tribes.membership.StaticMembershipService">) needs to list a Go
// node. Both sides must use the same channel name (Config.ChannelName) and Java must
// accept the serialVersionUID of the Member class Go writes (Config.MemberSUID).
package staticsvc
