//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
)

// packet builds an Ethernet frame with IPv4 and TCP headers (with options) around payload.
func packet(dstPort uint16, payload []byte) []byte {
	eth := make([]byte, 14)
	binary.BigEndian.PutUint16(eth[12:], syscall.ETH_P_IP)
	ip := make([]byte, 20)
	ip[0], ip[9] = 0x45, syscall.IPPROTO_TCP
	tcp := make([]byte, 32) // 12 bytes of options
	binary.BigEndian.PutUint16(tcp[2:], dstPort)
	tcp[12] = 8 << 4
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(tcp)+len(payload)))
	return bytes.Join([][]byte{eth, ip, tcp, payload}, nil)
}

func TestTCPPayload(t *testing.T) {
	p := packet(4000, []byte("FLT2002"))
	if got := tcpPayload(p, 4000); string(got) != "FLT2002" {
		t.Fatalf("payload %q", got)
	}
	if got := tcpPayload(p, 4001); got != nil {
		t.Fatalf("payload %q for another port", got)
	}
	// Ethernet padding after the IP packet is not payload.
	if got := tcpPayload(append(p, 0, 0, 0), 4000); string(got) != "FLT2002" {
		t.Fatalf("payload %q with padding", got)
	}
	udp := bytes.Clone(p)
	udp[14+9] = syscall.IPPROTO_UDP
	if got := tcpPayload(udp, 4000); got != nil {
		t.Fatalf("payload %q of a UDP packet", got)
	}
	for n := range len(p) {
		if got := tcpPayload(p[:n], 4000); got != nil {
			t.Fatalf("payload %q of a packet cut at %d", got, n)
		}
	}
}

func FuzzTCPPayload(f *testing.F) {
	f.Add(packet(4000, []byte("FLT2002")), 4000)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, port int) {
		if got := tcpPayload(b, port); len(got) > len(b) {
			t.Fatalf("payload of %d bytes from a packet of %d", len(got), len(b))
		}
	})
}
