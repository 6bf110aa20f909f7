package replmap_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// lagging is a member's interceptor that refuses the first messages of one source as
// its channel refuses a non-member's, as a member whose membership lists a joiner late.
type lagging struct {
	channel.InterceptorBase
	from    atomic.Pointer[channel.Member]
	refuse  atomic.Int64
	refused atomic.Int64
}

func (l *lagging) MessageReceived(msg *channel.Message) error {
	if f := l.from.Load(); f != nil && f.Key() == msg.Source.Key() && l.refuse.Add(-1) >= 0 {
		l.refused.Add(1)
		return fmt.Errorf("%w: %s", channel.ErrNotMember, msg.Source.Addr())
	}
	return l.InterceptorBase.MessageReceived(msg)
}

// A joiner whose only map member lists it late (its channel drops the joiner's first
// message, the MSG_INIT, as a non-member's) sends MSG_INIT again while no map member
// answered, and starts with the member's state once the member lists it, not after
// RPCTimeout: before, its one MSG_INIT waited for RPCTimeout (1h here; session/backup's
// is 15 s), with the channel's usual options as with synchronized ACKs (an RPC is sent
// without them, so no FAIL_ACK tells the joiner).
func TestStartWithMemberListingJoinerLate(t *testing.T) {
	for _, opts := range []channel.SendOptions{channel.OptDefault, channel.OptUseAck | channel.OptSyncAck} {
		t.Run(fmt.Sprint(opts), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			lag := &lagging{}
			member := newChannel(t, nw, lag)
			newMap(t, member, replmap.Config{SendOptions: opts})
			start(t, member)
			if _, err := member.m.Put(ctx(t), "k", "v"); err != nil {
				t.Fatal(err)
			}
			joiner := newChannel(t, nw)
			waitChannelMembers(t, joiner, 1)
			jm := joiner.ch.LocalMember()
			lag.from.Store(&jm)
			lag.refuse.Store(1)
			newMap(t, joiner, replmap.Config{SendOptions: opts, RPCTimeout: time.Hour})
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := joiner.m.Start(sctx); err != nil {
				t.Fatalf("Start with a member that lists the joiner late: %v, want it done before RPCTimeout (1h) and ctx (10s)", err)
			}
			if lag.refused.Load() != 1 {
				t.Fatalf("the member refused %d of the joiner's messages, want 1", lag.refused.Load())
			}
			waitMapMembers(t, []*node{member, joiner}, 1)
			if v := get(t, joiner, "k"); v != "v" {
				t.Errorf("joiner's Get: %v, want v", v)
			}
		})
	}
}
