package wire

import "bytes"

// Ack bodies (org.apache.catalina.tribes.transport.Constants).
var (
	// AckCommand is the 3-byte body of an ACK.
	AckCommand = []byte{6, 2, 3}
	// FailAckCommand is the 3-byte body of a FAIL_ACK (NACK): the receiver failed to process
	// a synchronized-ack message.
	FailAckCommand = []byte{11, 0, 5}
)

// Complete ACK and FAIL_ACK frames, ready to write. Do not modify.
var (
	AckFrame     = AppendFrame(nil, AckCommand)
	FailAckFrame = AppendFrame(nil, FailAckCommand)
)

// AckKind classifies a frame body received on a sender connection.
type AckKind int

const (
	// NotAck is any other body; Java senders ignore it and keep waiting.
	NotAck AckKind = iota
	// Ack means the message was received (or processed, for synchronized acks).
	Ack
	// FailAck means the receiver's processing failed.
	FailAck
)

// ClassifyAck tells what a frame body received by a sender means.
func ClassifyAck(body []byte) AckKind {
	switch {
	case bytes.Equal(body, AckCommand):
		return Ack
	case bytes.Equal(body, FailAckCommand):
		return FailAck
	}
	return NotAck
}
