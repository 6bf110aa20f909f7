// Package channeltest is an in-memory network for testing code built on package channel
// without sockets: transports that deliver messages by function call and a membership that
// sees every started node, with partitions and abrupt kills. Delivery is synchronous, so
// tests are deterministic and work inside testing/synctest bubbles.
//
// Each node gets the address 127.0.0.1 and its own port. A message is copied on delivery,
// as a real network would.
package channeltest
