package channel

import "github.com/gotribes/tribes/wire"

// Member is a node of the group. It is the wire record itself (see package wire): host,
// ports, unique id, domain, payload, alive time. Treat a Member as an immutable value.
type Member = wire.Member

// MemberKey is a comparable identity of a Member (host, port, unique id), for map keys.
type MemberKey = wire.MemberKey

// UniqueID is a member's 16-byte identity.
type UniqueID = wire.UniqueID
