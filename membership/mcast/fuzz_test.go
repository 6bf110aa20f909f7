package mcast

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// FuzzHandle feeds arbitrary datagrams to the receive loop's handler, as anyone who
// reaches the group can send them: heartbeats, broadcast frames, anything. It must not
// panic, and what it keeps stays within the limits: at most MaxMembers members, none with
// a field over its cap, and broadcast messages only as far as their queue holds.
func FuzzHandle(f *testing.F) {
	m := invented(1, 16)
	hb := wire.AppendMember(nil, &m)
	f.Add(hb)
	f.Add(hb[:len(hb)-1])
	f.Add(append(append([]byte(nil), hb...), 0))
	const maxPayload = 64 // small, so that the fuzzer's inputs over it stay small
	big := invented(2, maxPayload+1)
	f.Add(wire.AppendMember(nil, &big))
	shut := invented(3, 0)
	shut.Command = []byte("SHUTDOWN")
	f.Add(wire.AppendMember(nil, &shut))
	src := wire.AppendMember(nil, &m)
	frame := wire.AppendChannelDataFrame(nil, uint32(channel.OptMulticast), 1, channel.NewMessageID(), src, []byte("hello"))
	f.Add(frame)
	f.Add(append(append([]byte(nil), frame...), frame...))
	f.Add(frame[:len(frame)-3])
	f.Add([]byte("FLT2002"))
	f.Add([]byte{})

	cfg := DefaultLocalConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.MaxMembers = 4
	cfg.MaxPayloadSize = maxPayload
	st, err := cfg.normalize()
	if err != nil {
		f.Fatal(err)
	}
	local := testMember(9, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newService(st, nil)
		s.events = newEventQueue(nil)
		s.msgs = &msgQueue{ch: make(chan *channel.Message, msgQueueLen)}
		s.local, s.localKey = local, local.Key()
		s.tbl.setLocal(s.localKey)
		var cache wire.MemberCache
		now := time.Now()
		// Twice: a member the first datagram added is refreshed or removed by the second.
		s.handle(now, "192.0.2.1:45564", b, &cache)
		s.handle(now.Add(time.Millisecond), "192.0.2.1:45564", b, &cache)
		if n := s.tbl.len(); n > cfg.MaxMembers {
			t.Fatalf("%d members kept, MaxMembers %d", n, cfg.MaxMembers)
		}
		for _, mb := range s.tbl.members(now) {
			if f := s.cfg.oversized(&mb); f != "" {
				t.Fatalf("member %s kept with its %s over the limit", mb.String(), f)
			}
		}
		if q := s.msgs.bytes.Load(); q > msgQueueBytes || q < 0 {
			t.Fatalf("broadcast queue holds %d bytes, limit %d", q, msgQueueBytes)
		}
	})
}
