// Package wire encodes and decodes the byte formats of Apache Tomcat Tribes 10.1, so that Go
// and Java nodes can exchange messages: the stream frame (FLT2002 … TLF2003), the ChannelData
// message envelope, the Member record (TRIBES-B … TRIBES-E, with the BABY-ALEX shutdown
// command) and the ACK / FAIL_ACK replies.
//
// All integers are big-endian, as Java writes them. Decoders never trust a length: every one
// is checked against the bytes present and against a cap (DefaultMaxFrameSize for frames,
// MaxMemberSize for members, MaxMessageIDLen for message ids), and an error wraps one of the
// sentinels ErrBadStartMarker, ErrBadEndMarker, ErrNegativeLength, ErrFrameTooLarge,
// ErrBadMember or ErrBadChannelData. They never panic on any input; fuzz targets in this
// package check that.
//
// The golden files in testdata/golden were written by the real Java classes of Debian's
// tomcat10-tribes.jar (see testdata/golden/README.md for the command that regenerates them);
// the tests decode them and encode the same bytes again.
//
// The package has no dependencies and does no I/O; transport/nio and membership/mcast build on it.
package wire
