package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadChannelData is wrapped by every error about a malformed ChannelData body.
var ErrBadChannelData = errors.New("tribes/wire: malformed channel data")

// MaxMessageIDLen caps the message unique id a decoder accepts (Java always writes 16).
const MaxMessageIDLen = 1024

// channelDataFixed is the size of a ChannelData body with empty id, address and message.
const channelDataFixed = 4 + 8 + 4 + 4 + 4

// ChannelData is the envelope of every Tribes message (org.apache.catalina.tribes.io.ChannelData).
type ChannelData struct {
	// Options is the send option bit set.
	Options uint32
	// Timestamp is the sender's wall clock in milliseconds since the epoch.
	Timestamp int64
	// UniqueID identifies the message (16 random bytes from Java; any length is accepted).
	UniqueID []byte
	// Address is the sender's member, parsed.
	Address Member
	// AddressBytes is the sender's member in wire form, as received.
	AddressBytes []byte
	// Message is the payload after all interceptor transformations.
	Message []byte
}

// ChannelDataLen is the body length of a ChannelData with the given field sizes.
func ChannelDataLen(idLen, addrLen, msgLen int) int {
	return channelDataFixed + idLen + addrLen + msgLen
}

// AppendChannelDataHead appends every ChannelData field up to and including the message
// length, so that the message bytes can follow without a copy (for example with writev).
func AppendChannelDataHead(dst []byte, options uint32, timestamp int64, id, address []byte, msgLen int) []byte {
	dst = binary.BigEndian.AppendUint32(dst, options)
	dst = binary.BigEndian.AppendUint64(dst, uint64(timestamp))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(id)))
	dst = append(dst, id...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(address)))
	dst = append(dst, address...)
	return binary.BigEndian.AppendUint32(dst, uint32(msgLen))
}

// AppendChannelData appends a ChannelData body. address is the sender member in wire form.
func AppendChannelData(dst []byte, options uint32, timestamp int64, id, address, msg []byte) []byte {
	dst = AppendChannelDataHead(dst, options, timestamp, id, address, len(msg))
	return append(dst, msg...)
}

// AppendChannelDataFrame appends a complete frame carrying a ChannelData body.
func AppendChannelDataFrame(dst []byte, options uint32, timestamp int64, id, address, msg []byte) []byte {
	dst = AppendFrameHeader(dst, ChannelDataLen(len(id), len(address), len(msg)))
	dst = AppendChannelData(dst, options, timestamp, id, address, msg)
	return AppendFrameTrailer(dst)
}

// MemberCache remembers the last member parsed from a connection, so that a stream of
// messages from one sender parses its address once. The zero value is ready to use; it is
// not safe for concurrent use.
type MemberCache struct {
	raw []byte
	m   Member
}

func (c *MemberCache) parse(b []byte) (Member, []byte, error) {
	if c != nil && c.raw != nil && bytes.Equal(c.raw, b) {
		return c.m, c.raw, nil
	}
	m, n, err := ParseMember(b)
	if err != nil {
		return Member{}, nil, err
	}
	if n != len(b) {
		return Member{}, nil, fmt.Errorf("%w: %d trailing bytes after the address member", ErrBadChannelData, len(b)-n)
	}
	raw := bytes.Clone(b)
	if c != nil {
		c.raw, c.m = raw, m
	}
	return m, raw, nil
}

// ParseChannelData decodes a ChannelData body. The message and id are copied out of body;
// cache may be nil. Every length is checked against the body.
func ParseChannelData(body []byte, cache *MemberCache) (ChannelData, error) {
	var cd ChannelData
	if len(body) < channelDataFixed {
		return cd, fmt.Errorf("%w: %d bytes, at least %d needed", ErrBadChannelData, len(body), channelDataFixed)
	}
	cd.Options = binary.BigEndian.Uint32(body)
	cd.Timestamp = int64(binary.BigEndian.Uint64(body[4:]))
	off := 12
	field := func(what string, max int) ([]byte, error) {
		if len(body)-off < 4 {
			return nil, fmt.Errorf("%w: truncated before %s length", ErrBadChannelData, what)
		}
		n := int32(binary.BigEndian.Uint32(body[off:]))
		off += 4
		if n < 0 || int64(n) > int64(len(body)-off) || int(n) > max {
			return nil, fmt.Errorf("%w: %s length %d does not fit the %d remaining bytes", ErrBadChannelData, what, n, len(body)-off)
		}
		s := body[off : off+int(n)]
		off += int(n)
		return s, nil
	}
	id, err := field("unique id", MaxMessageIDLen)
	if err != nil {
		return cd, err
	}
	addr, err := field("address", MaxMemberSize)
	if err != nil {
		return cd, err
	}
	if len(addr) == 0 {
		return cd, fmt.Errorf("%w: empty sender address", ErrBadChannelData)
	}
	msg, err := field("message", len(body))
	if err != nil {
		return cd, err
	}
	if off != len(body) {
		return cd, fmt.Errorf("%w: %d trailing bytes after the message", ErrBadChannelData, len(body)-off)
	}
	cd.Address, cd.AddressBytes, err = cache.parse(addr)
	if err != nil {
		return ChannelData{}, err
	}
	cd.UniqueID = bytes.Clone(id)
	cd.Message = bytes.Clone(msg)
	return cd, nil
}
