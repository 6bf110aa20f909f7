// Package channeltest is an in-memory network for testing code built on package channel
// without sockets: transports that deliver messages by function call and a membership that
// sees every started node, with partitions and abrupt kills. Delivery is synchronous, so
// tests are deterministic and work inside testing/synctest bubbles: a membership change
// returns once its listeners were told, and they are told outside the network's locks,
// so a listener may stop its channel (see Network).
//
// Each node gets the address 127.0.0.1 and its own port. A message is copied on delivery,
// as a real network would.
package channeltest
