package replmap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/rpc"
)

func (m *Map) setState(s state) {
	m.mu.Lock()
	if m.state != stateDestroyed {
		m.state = s
	}
	m.mu.Unlock()
}

func (m *Map) local() *channel.Member {
	l := m.cfg.Channel.LocalMember()
	return &l
}

// rpcContext bounds ctx by RPCTimeout.
func (m *Map) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.cfg.RPCTimeout)
}

// broadcastRPC sends msgInit to every channel member (broadcast(type, true); announce
// sends MSG_START): the first reply is handled here, the later ones arrive as left-overs.
// Only a failure to send, or ctx ending, is an error; missing replies are not, as in
// Java, nor those of members that left the channel during the call (rpc.ErrMemberLeft).
//
// While no map member answered, the message is sent again every initRetry within
// RPCTimeout: a member whose membership lists the joiner late dropped the first one as a
// non-member's (TestStartWithMemberListingJoinerLate); a reply to an earlier one still
// counts (leftOver). Members that answer NoRpcChannelReply, or cannot be sent to, end
// the wait as before.
func (m *Map) broadcastRPC(ctx context.Context, t msgType) error {
	rctx, cancel := m.rpcContext(ctx)
	defer cancel()
	for {
		members := m.cfg.Channel.Members()
		if len(members) == 0 {
			return nil
		}
		actx, acancel := context.WithTimeout(rctx, initRetry)
		resp, err := m.call(actx, members, &message{Type: t, Primary: m.local()})
		acancel()
		for _, r := range resp {
			m.mapMemberAdded(r.Member)
		}
		if len(resp) > 0 || rctx.Err() != nil || !errors.Is(err, rpc.ErrTimeout) || len(m.Members()) > 0 {
			return startCallError(ctx, err)
		}
	}
}

// initRetry is how long a joiner's MSG_INIT waits for a reply before it is sent again
// (broadcastRPC).
const initRetry = time.Second

// startCallError returns the error of a start-up RPC that makes Start fail: a failure
// to send, or ctx ending; not missing replies, as in Java, nor those of members that
// left the channel during the call (rpc.ErrMemberLeft).
func startCallError(ctx context.Context, err error) error {
	if err != nil && (ctx.Err() != nil || !errors.Is(err, rpc.ErrTimeout) && !errors.Is(err, rpc.ErrMemberLeft)) {
		return err
	}
	return nil
}

// call sends msg as an RPC that waits for the first reply.
func (m *Map) call(ctx context.Context, to []channel.Member, msg *message) ([]rpc.Response, error) {
	return m.callMode(ctx, to, msg, rpc.FirstReply)
}

func (m *Map) callMode(ctx context.Context, to []channel.Member, msg *message, mode rpc.Mode) ([]rpc.Response, error) {
	msg.MapID = m.id
	o, err := m.codec.object(msg)
	if err != nil {
		return nil, err
	}
	return m.rpc.Call(ctx, to, o, mode, m.cfg.SendOptions)
}

// decodeReply decodes the MapMessage of an RPC reply.
func (m *Map) decodeReply(r rpc.Response) (*message, error) {
	if r.Message == nil {
		return nil, fmt.Errorf("%w: null reply from %s", ErrBadMessage, r.Member.String())
	}
	return decodeMessage(r.Message)
}

// send sends msg as a plain Java-serialized message.
func (m *Map) send(ctx context.Context, to []channel.Member, msg *message) error {
	msg.MapID = m.id
	b, err := m.codec.marshal(msg)
	if err != nil {
		return err
	}
	cm := &channel.Message{Options: m.cfg.SendOptions &^ channel.OptByteMessage, Data: b}
	sent := m.trackAsync(msg, cm, to) // a queued send of the key (asyncsend.go)
	err = m.cfg.Channel.SendMessage(ctx, to, cm)
	if sent != nil {
		sent(err)
	}
	return err
}

// Members returns the map members: the other nodes that run this map.
func (m *Map) Members() []channel.Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

func indexOf(members []channel.Member, mb channel.Member) int {
	k := mb.Key()
	return slices.IndexFunc(members, func(x channel.Member) bool { return x.Key() == k })
}

func same(a *channel.Member, b channel.Member) bool { return a != nil && a.Key() == b.Key() }

// only reports whether nodes is exactly [mb].
func only(nodes []channel.Member, mb channel.Member) bool {
	return len(nodes) == 1 && nodes[0].Key() == mb.Key()
}

// exclude returns members without those in out.
func exclude(members, out []channel.Member) []channel.Member {
	return slices.DeleteFunc(slices.Clone(members), func(x channel.Member) bool { return indexOf(out, x) >= 0 })
}

// keyOf returns the index of key: its serialization stream.
func keyOf(key any) (string, error) {
	b, err := jserial.Marshal(key)
	if err != nil {
		return "", fmt.Errorf("replmap: key %T: %w", key, err)
	}
	return string(b), nil
}
