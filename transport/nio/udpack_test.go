package nio

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A USE_ACK send over UDP to two members, the first of which never answers: the second
// member's ACK arrives within milliseconds, while the sender still waits for the first.
// Past the deadline an ACK that arrived meanwhile still counts, as over TCP
// (TestSendToSeveralMembersOneSilent): the datagram queued in the socket is read without
// waiting, and only the silent member is reported.
func TestUDPAckArrivedMeanwhileCounts(t *testing.T) {
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silentMember := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: 1, SecurePort: -1,
		UDPPort: int32(silent.LocalAddr().(*net.UDPAddr).Port)}

	cfg := testConfig()
	cfg.UDP = true
	rec := newRecorder(4)
	good := startNode(t, cfg, rec.rx)

	scfg := testConfig()
	scfg.Timeout = 300 * time.Millisecond
	a := startNode(t, scfg, nil)
	msg := a.msg(channel.OptUDP|channel.OptUseAck, []byte("x"))
	err = a.t.Send(context.Background(), []channel.Member{silentMember, good.member}, msg)
	if got := rec.next(t); !bytes.Equal(got.ID, msg.ID) {
		t.Fatalf("id %x, want %x", got.ID, msg.ID)
	}
	if st := good.t.Stats(); st.AcksSent != 1 {
		t.Fatalf("good member sent %d ACKs, want 1", st.AcksSent)
	}
	faulty := channel.FaultyMembers(err)
	for _, f := range faulty {
		if f.Member.Equal(good.member) {
			t.Fatalf("the member that received the message and sent its ACK is reported faulty: %v", f.Err)
		}
	}
	if len(faulty) != 1 {
		t.Fatalf("err = %v, want only the silent member faulty", err)
	}
}
