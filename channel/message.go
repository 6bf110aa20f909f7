package channel

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	"github.com/gotribes/tribes/wire"
)

// Message is one message travelling through the interceptor chain (Tribes' ChannelMessage).
//
// Going down (SendMessage), an interceptor may replace Data and change Options, but must
// not modify bytes it did not allocate: Data may be the application's buffer. Going up
// (MessageReceived), the message and its Data belong to the receiving side; a listener that
// keeps Data beyond its callback may keep it (the transport copied it off the network),
// unless it calls Release.
type Message struct {
	// Options are the send option bits, as they travel on the wire.
	Options SendOptions
	// Timestamp is the sender's wall clock in milliseconds since the epoch.
	Timestamp int64
	// ID is the message's unique id (16 bytes for messages sent by Go; any length received).
	ID []byte
	// Source is the sending member. For a received message it is the address in the
	// ChannelData, not the TCP peer: replies go to Source.
	Source Member
	// SourceBytes is Source in wire form. The channel fills it for messages it sends, so that
	// transports do not encode the local member for every message; nil means encode Source.
	SourceBytes []byte
	// Data is the payload.
	Data []byte

	// OnComplete, if set, is called once with the outcome when an asynchronous send
	// (OptAsync through the message dispatch interceptor) finishes: after a Send that
	// returned nil, or a *SendError naming only some of the destinations (then with the
	// outcome for the others); not after another error. It is not transmitted.
	OnComplete func(error)

	// release hands the buffer Data was received into back to its transport (Release).
	release func()
}

// SetRelease is for transports: it attaches to a received message the function Release
// calls to take back the buffer Data was received into, for the next message. f may be
// called from any goroutine, and more than once (copies of a Message share it): it must
// take the buffer back only the first time.
func (m *Message) SetRelease(f func()) { m.release = f }

// Release tells the transport that received m that nothing uses m.Data, nor any slice of
// it, any more: the transport may receive another message into the same memory. It sets
// m.Data to nil. Call it only when every holder of Data is done with it; a listener that
// shares the channel with listeners that keep Data (or hands Data to another goroutine)
// must not. Releasing is optional: Data that is not released is garbage-collected as
// usual and never reused while referenced. Release does nothing for a message with no
// buffer to give back (a small one, one sent locally, a Clone) and after the first call.
//
// It saves the allocation, zeroing and collection of a new buffer per large message
// (transport/nio: frames of 32 KiB and more).
func (m *Message) Release() {
	f := m.release
	if f == nil {
		return
	}
	m.release, m.Data = nil, nil
	f()
}

// Clone returns a copy of m with its own Data and ID, for interceptors that keep or queue a
// message (Tribes' deepclone).
func (m *Message) Clone() *Message {
	c := *m
	c.release = nil
	c.ID = append([]byte(nil), m.ID...)
	c.Data = append([]byte(nil), m.Data...)
	return &c
}

// MessageFromChannelData is the message a receiver hands up the chain for a decoded
// ChannelData. It aliases cd's slices, which the receiver must own (copied off the network);
// the source member is shared, being an immutable value.
func MessageFromChannelData(cd *wire.ChannelData) *Message {
	return &Message{
		Options:     SendOptions(cd.Options),
		Timestamp:   cd.Timestamp,
		ID:          cd.UniqueID,
		Source:      cd.Address,
		SourceBytes: cd.AddressBytes,
		Data:        cd.Message,
	}
}

// IDString returns the message id in hex, for logs and errors.
func (m *Message) IDString() string { return hex.EncodeToString(m.ID) }

// NewMessageID returns 16 random bytes with RFC 4122 version 4 bits, as Java's
// UUIDGenerator.randomUUID(false) makes message ids. Like Java it uses a fast non-crypto
// generator: message ids need uniqueness, not secrecy.
func NewMessageID() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}
