package main

import (
	"context"
	"encoding/binary"
	"syscall"
	"time"

	"github.com/gotribes/tribes/wire"
)

// captureFrames reads TCP segments to port on the loopback interface with a packet socket
// (root only) until ctx ends or limit frames were seen, and returns the whole Tribes frames
// they carried whose sender is from, each once.
func captureFrames(ctx context.Context, port int, from wire.UniqueID, limit int) ([][]byte, error) {
	lo, err := loopbackInterface()
	if err != nil {
		return nil, err
	}
	proto := htons(syscall.ETH_P_IP)
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(proto))
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: proto, Ifindex: lo.Index}); err != nil {
		return nil, err
	}
	tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var frames [][]byte
	buf := make([]byte, 1<<16)
	for ctx.Err() == nil && len(frames) < limit {
		n, sa, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // the receive timeout: look at ctx again
		}
		if ll, ok := sa.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == syscall.PACKET_OUTGOING {
			continue // each loopback packet is seen going out and coming in
		}
		payload := tcpPayload(buf[:n], port)
		for len(payload) > 0 {
			body, size, err := wire.ParseFrame(payload, maxFrame)
			if err != nil {
				break
			}
			cd, err := wire.ParseChannelData(body, nil)
			if f := string(payload[:size]); err == nil && cd.Address.UniqueID == from && !seen[f] {
				seen[f] = true
				frames = append(frames, []byte(f))
			}
			payload = payload[size:]
		}
	}
	return frames, nil
}

// tcpPayload returns the TCP payload of an Ethernet frame carrying IPv4 to dstPort.
func tcpPayload(b []byte, dstPort int) []byte {
	const eth = 14
	if len(b) < eth+20 || binary.BigEndian.Uint16(b[12:]) != syscall.ETH_P_IP {
		return nil
	}
	ip := b[eth:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ip[9] != syscall.IPPROTO_TCP || ihl < 20 || total > len(ip) || total < ihl+20 {
		return nil
	}
	tcp := ip[ihl:total]
	if int(binary.BigEndian.Uint16(tcp[2:])) != dstPort {
		return nil
	}
	off := int(tcp[12]>>4) * 4
	if off < 20 || off > len(tcp) {
		return nil
	}
	return tcp[off:]
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
