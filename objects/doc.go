// Package objects sends and receives Java-serialized channel messages: what Tribes'
// GroupChannel.send(members, serializable, options) puts on the wire when the payload
// is not a ByteMessage.
//
// Such a message is a ChannelData whose OptByteMessage bit (0x01) is clear and whose
// payload is one Java Object Serialization stream (AC ED 00 05 ...). Send marshals a Go
// value with package jserial (its package documentation lists which Go type becomes
// which Java class) and sends it with the bit cleared, so a Java ChannelListener
// receives the Java object. Func is a channel.MessageListener that accepts only
// messages without the bit and hands their decoded value to a function.
//
// The channel itself is unchanged: a message without OptByteMessage still reaches
// every accepting listener as raw bytes, and listeners that want the value register a
// Func (or call Decode).
//
// Unlike Java, which logs a stream it cannot deserialize and drops it, Func returns the
// decoding error to the channel: it counts as a listener failure and a synchronized-ack
// sender gets a FAIL_ACK.
package objects
