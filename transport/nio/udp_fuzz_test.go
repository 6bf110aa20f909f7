package nio

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// FuzzDatagram feeds arbitrary datagrams to the UDP receiver, as anyone who reaches its
// port can send them (a spoofed source included): it must not panic, deliver only whole
// frames of the datagram, and answer (ACK or FAIL_ACK) at most once per frame it
// delivered, so that a datagram cannot make it send more than it received.
func FuzzDatagram(f *testing.F) {
	src := testSource()
	one := wire.AppendChannelDataFrame(nil, uint32(channel.OptUseAck|channel.OptSyncAck), 1, channel.NewMessageID(), src, []byte("hi"))
	f.Add(one)
	f.Add(append(bytes.Clone(one), one...))
	f.Add(one[:len(one)-1])
	f.Add(append(bytes.Clone(one), 'x'))
	f.Add(wire.AckFrame)
	f.Add([]byte("FLT2002\x7f\xff\xff\xffTLF2003"))

	cfg, err := DefaultConfig().normalize()
	if err != nil {
		f.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	// ACKs go to a port nothing reads: their writes only have to succeed or fail.
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer sink.Close()
	from := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	var got []*channel.Message
	rx := func(m *channel.Message) error {
		got = append(got, m)
		if len(m.Data) == 0 {
			return channel.ErrNotMember // a refusal: FAIL_ACK
		}
		return nil
	}
	st := &counters{}
	r := newReceiver(&cfg, st, rx, func(error) {}, func(channel.LostMessage) {})
	u := &udpReceiver{r: r, conn: conn}
	f.Fuzz(func(t *testing.T, b []byte) {
		got = got[:0]
		acks := st.acksSent.Load() + st.failAcksSent.Load()
		var cache wire.MemberCache
		u.datagram(bytes.Clone(b), netip.AddrPortFrom(from.Addr(), from.Port()), &cache)
		size := 0
		for _, m := range got {
			size += wire.FrameOverhead + len(m.Data)
		}
		if size > len(b) {
			t.Fatalf("%d messages delivered, %d bytes of payload and framing, from a %d-byte datagram", len(got), size, len(b))
		}
		if sent := st.acksSent.Load() + st.failAcksSent.Load() - acks; sent > uint64(len(got)) {
			t.Fatalf("%d ACKs sent for %d frames delivered", sent, len(got))
		}
	})
}
