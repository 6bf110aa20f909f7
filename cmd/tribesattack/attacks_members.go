package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/wire"
)

// forgedHeartbeats sends multicast heartbeats to the cluster's group: invented members,
// half of them with 60 000-byte payloads. Breaches: members the target knew beyond
// MaxMembers, members it believed with a payload over MaxPayloadSize, and, as nothing was
// shown otherwise, one if not one invented member reached the target, one if the target
// ignored no oversized heartbeat (mcast Stats.OversizedHeartbeats).
func forgedHeartbeats(ctx context.Context, c *cluster) (outcome, error) {
	group, err := net.ResolveUDPAddr("udp4", c.group)
	if err != nil {
		return outcome{}, err
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return outcome{}, err
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	lo, err := loopbackInterface()
	if err != nil {
		return outcome{}, err
	}
	if err := pc.SetMulticastInterface(lo); err != nil {
		return outcome{}, err
	}
	_ = pc.SetMulticastLoopback(true)
	before, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	var last nodeStats
	var peak, oversizedKept int
	probe := func() {
		if st, err := c.stats(0); err == nil {
			peak, oversizedKept, last = max(peak, st.Members), max(oversizedKept, st.OversizedMembers), st
		}
	}
	big := bytes.Repeat([]byte{'p'}, 60000)
	var sent, sentBig int
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ctx.Err() == nil; i++ {
		m := strangerMember(10000+i%50000, 0xee)
		binary.BigEndian.PutUint32(m.UniqueID[1:], uint32(i))
		if i%2 == 0 {
			m.Payload = big
		}
		if _, err := conn.WriteToUDP(wire.AppendMember(nil, &m), group); err == nil {
			sent++
			if m.Payload != nil {
				sentBig++
			}
		}
		if i%200 == 199 {
			select {
			case <-tick.C:
				probe()
			case <-ctx.Done():
			}
		}
	}
	probe() // the heartbeats sent since the last probe
	invented := peak - before.Members
	refused := last.Multicast.OversizedHeartbeats - before.Multicast.OversizedHeartbeats
	out := outcome{note: fmt.Sprintf("%d heartbeats of invented members (%d with 60 000-byte payloads); the target knew at most %d members (%d before), %d of them with payloads over %d B, and ignored %d oversized heartbeats",
		sent, sentBig, peak, before.Members, oversizedKept, mcast.DefaultMaxPayloadSize, refused),
		breaches: int64(max(0, peak-mcast.DefaultMaxMembers) + oversizedKept)}
	if invented <= 0 {
		out.breaches++
		out.note += "; NOT one invented member reached the target"
	} else if sentBig > 0 && refused == 0 {
		out.breaches++
		out.note += "; the target ignored NO oversized heartbeat"
	}
	return out, nil
}

func loopbackInterface() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return &i, nil
		}
	}
	return nil, errors.New("no loopback interface")
}

// byteCounter accepts connections and counts the bytes sent to it as they arrive.
type byteCounter struct {
	ln net.Listener
	n  atomic.Int64
}

func (b *byteCounter) Write(p []byte) (int, error) {
	b.n.Add(int64(len(p)))
	return len(p), nil
}

func newByteCounter() (*byteCounter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &byteCounter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = io.Copy(b, conn)
			}()
		}
	}()
	return b, nil
}

func (b *byteCounter) port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// stranger sends, as a process that is no member, GET_ALL_SESSIONS and deltas that take
// over the target's sessions, and GET_ALL_SESSIONS naming a victim host and impersonating
// member B's address with another id.
func stranger(ctx context.Context, c *cluster) (outcome, error) {
	self, err := newByteCounter()
	if err != nil {
		return outcome{}, err
	}
	defer self.ln.Close()
	victim, err := newByteCounter()
	if err != nil {
		return outcome{}, err
	}
	defer victim.ln.Close()
	resp, err := httpClient.Get("http://" + c.nodes[0].ctrl + "/sessions")
	if err != nil {
		return outcome{}, err
	}
	var ids []string
	err = json.NewDecoder(resp.Body).Decode(&ids)
	resp.Body.Close()
	if err != nil || len(ids) == 0 {
		return outcome{}, fmt.Errorf("session ids: %v", err)
	}
	me, vic := strangerMember(self.port(), 0x51), strangerMember(victim.port(), 0x52)
	b := c.nodes[1]
	_, bport, _ := net.SplitHostPort(b.addr)
	p, _ := strconv.Atoi(bport)
	impostor := strangerMember(p, 0x53)
	var codec delta.BinaryCodec
	owned, _ := delta.GobCodec{}.Marshal("stranger")
	getAll := &delta.Message{Event: delta.EventGetAllSessions, Context: appName, SessionID: "GET-ALL"}
	enc := func(m *delta.Message) []byte { d, _ := codec.AppendMessage(nil, m); return d }
	var sent int
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		if conn == nil {
			if conn, err = dial(ctx, c.nodes[0].addr); err != nil {
				conn = nil
				continue
			}
		}
		var f []byte
		switch i % 4 {
		case 0:
			f = frame(me, 0, enc(getAll))
		case 1:
			f = frame(vic, 0, enc(getAll))
		case 2:
			f = frame(impostor, 0, enc(getAll))
		default:
			f = frame(me, 0, enc(&delta.Message{Event: delta.EventDelta, Context: appName, SessionID: ids[i%len(ids)],
				Version: 1 << 40, Actions: []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "owner", Value: owned}}}))
		}
		if _, err := conn.Write(f); err != nil {
			conn.Close()
			conn = nil
			continue
		}
		sent++
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	st, _ := c.stats(0)
	return outcome{note: fmt.Sprintf("%d messages; the stranger received %d B, the victim %d B; the target dropped %d (channel) and %d (sessions) from non-members, served %d sessions",
		sent, self.n.Load(), victim.n.Load(), st.NonMemberDropped, st.RefusedNonMember, st.SessionsServed),
		breaches: self.n.Load() + victim.n.Load() + int64(st.SessionsServed)}, nil
}

// replay captures the encrypted load frames B sends to the target (the ChannelData around
// the ciphertext names its sender in clear), then sends them again: to the target at once,
// to member C, and to the target after it restarted. Replays to another member are
// reported but are no breach: the format cannot tell for whom a ciphertext was meant (see
// the encrypt interceptor's documentation).
func replay(ctx context.Context, c *cluster) (outcome, error) {
	a, cc := c.nodes[0], c.nodes[2]
	_, port, _ := net.SplitHostPort(a.addr)
	p, _ := strconv.Atoi(port)
	capCtx, cancel := context.WithTimeout(ctx, time.Second)
	frames, err := captureFrames(capCtx, p, c.nodes[1].id, 200)
	cancel()
	if err != nil {
		return outcome{}, fmt.Errorf("capture: %w", err)
	}
	if len(frames) == 0 {
		return outcome{}, errors.New("capture: no frame seen")
	}
	accepted := func(i int, addr string) (uint64, error) {
		before, err := c.stats(i)
		if err != nil {
			return 0, err
		}
		if err := sendFrames(addr, frames); err != nil {
			return 0, err
		}
		var n uint64
		// Replays are sync-acked load messages: once sent, they were counted.
		after, err := c.stats(i)
		if err == nil {
			n = after.Stale - before.Stale
		}
		return n, err
	}
	same, err := accepted(0, a.addr)
	if err != nil {
		return outcome{}, err
	}
	other, err := accepted(2, cc.addr)
	if err != nil {
		return outcome{}, err
	}
	if err := c.restart(ctx, 0); err != nil {
		return outcome{}, fmt.Errorf("restart: %w", err)
	}
	// The restarted target must have heard B again, so that old sequence numbers show.
	if err := poll(ctx, 5*time.Second, func() (bool, error) {
		st, err := c.stats(0)
		return err == nil && st.Received > 20, err
	}); err != nil {
		return outcome{}, err
	}
	restarted, err := accepted(0, a.addr)
	if err != nil {
		return outcome{}, err
	}
	return outcome{note: fmt.Sprintf("%d frames captured; replays accepted: same node %d, target after restart %d, member C %d (not coverable)",
		len(frames), same, restarted, other), breaches: int64(same + restarted)}, nil
}

// sendFrames writes frames on one new connection and reads the answers until every frame
// got one or the connection went quiet for a second.
func sendFrames(addr string, frames [][]byte) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() {
		for _, f := range frames {
			if _, err := conn.Write(f); err != nil {
				return
			}
		}
	}()
	want := len(frames) * len(wire.AckFrame)
	buf := make([]byte, 4096)
	for got := 0; got < want; {
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		got += n
		if err != nil {
			return nil
		}
	}
	return nil
}
