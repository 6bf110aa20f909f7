// Package rpc is Tribes' RpcChannel: request/reply calls between the members of a
// channel, wire compatible with org.apache.catalina.tribes.group.RpcChannel, so Go and
// Java nodes call each other.
//
// A request is an RpcMessage (Externalizable: reply flag, a fresh 16-byte uuid, the rpc
// id, the message object) sent as a Java-serialized channel message (OptByteMessage
// clear). The member whose rpc.Channel has the same id calls its Handler and sends the
// reply back in an RpcMessage with the same uuid and the reply flag set; the caller
// matches it by uuid. A node that has no rpc.Channel for the id answers with an
// RpcMessage$NoRpcChannelReply, which the caller counts as one replier less. Replies
// that come after their call ended go to Config.LeftOver.
//
// Requests and replies are Go values that package jserial marshals (its package
// documentation has the table): string, bool, int32 (Java's Integer), int64 (Long),
// float64, []byte, []any (ArrayList), *jserial.Map (HashMap), *jserial.Object for other
// Java classes, and so on. A Go int, map or struct is refused with an error wrapping
// jserial.ErrType.
//
// Call waits for the replies its Mode asks for (FirstReply, MajorityReply, AllReply,
// NoReply) until its context ends; the context is Java's timeout. As in Java, a call
// that times out still returns the responses that arrived; its error wraps ErrTimeout
// (and the context's error) so Go callers can tell.
//
// # Differences from Java
//
//   - The NoRpcChannelReply is sent by this package, not by the channel: a Go node
//     answers it only while at least one rpc.Channel is open on its channel.Channel.
//     A Go node without any never answers an RpcMessage. A node that is not a member
//     of a channel with a membership service (a channel with
//     channel.Config.AcceptNonMembers lets its requests through) is answered off the
//     receiving goroutine, bounded as the replies to non-members below
//     (TestOpenChannelStrangerRepliesOffTheReceiver): a Tomcat node that lists this one
//     before this one lists it then does not wait its rpcTimeout for a map that this
//     node lacks (TestOpenChannelAnswersAStrangerForAnUnknownID).
//   - Two rpc.Channels with the same id on one channel are refused (ErrDuplicateID);
//     Java would deliver to both.
//   - A request to no member means every current member (as channel.Channel.Send);
//     Java returns no responses at once.
//   - When the request cannot be sent to some members, Call keeps waiting for the
//     others and returns the *channel.SendError with the responses; Java throws. A
//     member reported failed whose reply comes all the same counts as replied.
//   - A destination that leaves the channel (its membership reports it gone) before it
//     replied no longer counts: the call returns once the others satisfy its mode, its
//     error wrapping ErrMemberLeft; Java waits for the timeout
//     (TestMemberLeavingEndsCall).
//   - Each member counts once, as replied, failed or without the rpc id: Java counts
//     every reply and NoRpcChannelReply, so a member replying twice could complete an
//     AllReply call for one that did not reply. A second reply goes to
//     Config.LeftOver (TestCollectorCountsMembersOnce, TestCollectorLeftOvers,
//     TestFaultyMemberReplyDoesNotCompleteAllReply).
//   - A member listed more than once in Call's destinations is sent the request once,
//     so its handler runs once (TestCallToRepeatedMemberSendsOnce).
//   - A channel.Channel drops messages from nodes that are not its members unless
//     channel.Config.AcceptNonMembers is set or the rpc.Channel is configured with
//     Config.AcceptNonMembers; otherwise requests from such a node get no reply at all,
//     replies from it are not seen. Whether the rpc.Channel takes such a message is
//     decided on its rpc id alone, the payload not decoded
//     (TestNonMemberPayloadNotDecoded).
//   - The reply to a non-member's request (taken with Config.AcceptNonMembers, or by any
//     rpc.Channel on a channel with channel.Config.AcceptNonMembers and a membership
//     service) is sent off the receiving goroutine, at most
//     MaxNonMemberReplies at once, one more cancelling the oldest (Stats); Java replies
//     from the receiver thread, where a send to an address that does not answer holds it
//     for the sender's timeout (TestNonMemberRepliesOffTheReceiver). A stranger keeping
//     MaxNonMemberReplies replies hanging so cannot have the replies to joining nodes
//     dropped (TestStrangerCannotCrowdOutRepliesToJoiners); while as many cancelled
//     sends have not ended yet, further replies are dropped
//     (TestStrangerRepliesGoroutinesBounded). A reply that the rpc.Channel's Close
//     cancelled before it left is replaced by a NoRpcChannelReply, so that its caller
//     does not wait for its timeout (TestCloseDeclinesAReplyItCancelled), unless
//     ReplyOptions wait for an ACK: such a reply may have arrived, its ACK not yet read,
//     and Java's RpcCollector would count the NoRpcChannelReply after it as one
//     destination less (TestCloseDoesNotDeclineAReplyWaitingForItsACK).
//   - A received RpcMessage is bounded by Config.MaxMessageBytes (64 MiB by default;
//     Java has none), on top of the transport's frame limit. A reply lost to either
//     limit leaves its call waiting for its context, as a reply lost in Java would; the
//     call's error then also wraps the loss (channel.ErrMessageTooLarge, or ErrMalformed
//     and jserial.ErrLimit), which Java does not report.
//   - A received RpcMessage is decoded within Config.Limits (depth, handles, array
//     lengths: jserial's DecoderConfig, its defaults where zero); Tomcat's RpcChannel
//     has no such setting, only a JVM-wide serial filter if one is configured
//     (TestConfigLimits).
package rpc
