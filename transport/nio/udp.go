package nio

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// udpReceiver reads datagrams on the UDP port (spec 7.4, 8.1). Each datagram carries whole
// frames. One goroutine reads and processes them in arrival order, like Java's single UDP
// reader; while a ReceiveFunc runs, further datagrams wait in the socket buffer (and the
// kernel drops what does not fit, as UDP does). ACKs go back to the datagram's source.
type udpReceiver struct {
	r    *receiver
	conn *net.UDPConn
	done chan struct{}
}

func (u *udpReceiver) loop() {
	defer close(u.done)
	buf := make([]byte, MaxUDPSize+1)
	var cache wire.MemberCache
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.r.log.Warn("tribes udp receiver read failed", "err", err)
			continue
		}
		u.r.st.datagramsReceived.Add(1)
		u.datagram(buf[:n], from, &cache)
	}
}

func (u *udpReceiver) datagram(b []byte, from netip.AddrPort, cache *wire.MemberCache) {
	r := u.r
	for len(b) > 0 {
		body, n, err := wire.ParseFrame(b, min(r.maxBody, MaxUDPSize))
		if err == nil && n == 0 {
			err = errors.New("partial frame in datagram")
		}
		var cd wire.ChannelData
		if err == nil {
			cd, err = wire.ParseChannelData(body, cache)
		}
		if err != nil {
			r.st.framesRejected.Add(1)
			r.plog.Log(slog.LevelDebug, from.Addr().String(), "invalid-datagram", "tribes udp receiver dropping an invalid datagram",
				"remote", from.String(), "err", err)
			return
		}
		b = b[n:]
		r.st.framesReceived.Add(1)
		r.st.bytesReceived.Add(uint64(n))
		msg := channel.MessageFromChannelData(&cd)
		r.deliverAcked(msg, ackModeOf(msg.Options), func(frame []byte, ctr *atomic.Uint64) {
			// Counted before it leaves, so that a sender that got it sees the counter.
			ctr.Add(1)
			u.ack(frame, from)
		}, nil)
	}
}

func (u *udpReceiver) ack(frame []byte, to netip.AddrPort) {
	if _, err := u.conn.WriteToUDPAddrPort(frame, to); err != nil {
		u.r.plog.Log(slog.LevelDebug, to.Addr().String(), "ack-failed", "tribes udp receiver cannot send ACK",
			"remote", to.String(), "err", err)
	}
}
