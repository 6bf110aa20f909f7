package javapeer

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// ChannelMember returns the peer as a channel.Member (host, port and unique id), ready for
// a Go node's static member list or a Send destination.
func (p *Peer) ChannelMember() (channel.Member, error) { return wire.ParseMemberText(p.Member()) }

// SHA256Hex is the lowercase hex SHA-256 of b, as the peer prints it in message events.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
