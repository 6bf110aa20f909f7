package staticsvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// Temporary RpcChannel subset until package rpc lands: ALL_REPLY calls and replies.

const (
	rpcMessageClass = "org.apache.catalina.tribes.group.RpcMessage"
	noReplyClass    = "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply"
)

var (
	rpcDesc     = &jserial.ClassDesc{Name: rpcMessageClass, SUID: 8154458786660410633, Flags: jserial.SCExternalizable | jserial.SCBlockData}
	noReplyDesc = &jserial.ClassDesc{Name: noReplyClass, SUID: 8911374288427899814, Flags: jserial.SCExternalizable | jserial.SCBlockData, Super: rpcDesc}
)

type rpcMsg struct {
	reply, noChannel bool
	uuid, rpcID      []byte
	msg              any
}

type rpcEndpoint struct {
	ch       *channel.Channel
	id       []byte
	s        *Service
	unlisten func()

	mu      sync.Mutex
	pending map[string]*call
}

type call struct {
	want    int
	replies []channel.Member
	done    chan struct{}
}

func newRPCEndpoint(ch *channel.Channel, id []byte, s *Service) *rpcEndpoint {
	e := &rpcEndpoint{ch: ch, id: id, s: s, pending: map[string]*call{}}
	e.unlisten = ch.AddMessageListener(e)
	return e
}

func (e *rpcEndpoint) close() { e.unlisten() }

func (e *rpcEndpoint) call(ctx context.Context, to []channel.Member, m memberMessage) ([]channel.Member, error) {
	o, err := e.s.cls.object(m)
	if err != nil {
		return nil, err
	}
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	b, err := marshalRPC(rpcMsg{uuid: uuid, rpcID: e.id, msg: o})
	if err != nil {
		return nil, err
	}
	c := &call{want: len(to), done: make(chan struct{})}
	e.mu.Lock()
	e.pending[string(uuid)] = c
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.pending, string(uuid))
		e.mu.Unlock()
	}()
	err = e.ch.SendMessage(ctx, to, &channel.Message{Options: e.s.cfg.SendOptions &^ (channel.OptByteMessage | channel.OptSyncAck), Data: b})
	select {
	case <-c.done:
	case <-ctx.Done():
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return c.replies, err
}

func (e *rpcEndpoint) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 &&
		(startsWithClass(msg.Data, rpcMessageClass) || startsWithClass(msg.Data, noReplyClass))
}

func (e *rpcEndpoint) MessageReceived(msg *channel.Message) error {
	v, err := jserial.Unmarshal(msg.Data)
	if err != nil {
		return err
	}
	r, err := parseRPC(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(r.rpcID, e.id) {
		return nil
	}
	if !r.reply {
		r.reply, r.msg = true, e.s.replyRequest(r.msg)
		b, err := marshalRPC(r)
		if err != nil {
			return err
		}
		return e.ch.SendMessage(context.Background(), []channel.Member{msg.Source}, &channel.Message{Data: b})
	}
	e.mu.Lock()
	c := e.pending[string(r.uuid)]
	if c == nil {
		e.mu.Unlock()
		if !r.noChannel {
			e.s.leftOver(r.msg)
		}
		return nil
	}
	if r.noChannel {
		c.want--
	} else if m, err := decode(r.msg); err == nil {
		c.replies = append(c.replies, m.member)
	}
	if len(c.replies) >= c.want {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
	}
	e.mu.Unlock()
	return nil
}

// isRPC reports whether b is an RpcMessage (or NoRpcChannelReply) with this rpc id.
func isRPC(b []byte, id []byte) bool {
	if !startsWithClass(b, rpcMessageClass) && !startsWithClass(b, noReplyClass) {
		return false
	}
	v, err := jserial.Unmarshal(b)
	if err != nil {
		return false
	}
	r, err := parseRPC(v)
	return err == nil && bytes.Equal(r.rpcID, id)
}

func marshalRPC(r rpcMsg) ([]byte, error) {
	var w jserial.DataWriter
	w.WriteBool(r.reply)
	w.WriteInt32(int32(len(r.uuid)))
	_, _ = w.Write(r.uuid)
	w.WriteInt32(int32(len(r.rpcID)))
	_, _ = w.Write(r.rpcID)
	w.WriteObject(r.msg)
	return jserial.Marshal(&jserial.Object{Class: rpcDesc, External: w.Contents()})
}

func parseRPC(v any) (rpcMsg, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class == nil {
		return rpcMsg{}, errors.New("not an RpcMessage")
	}
	var r rpcMsg
	rd := jserial.NewDataReader(o.External)
	switch o.Class.Name {
	case rpcMessageClass:
		var err error
		if r.reply, err = rd.ReadBool(); err != nil {
			return r, err
		}
	case noReplyClass:
		r.reply, r.noChannel = true, true
	default:
		return r, fmt.Errorf("class %s", o.Class.Name)
	}
	for _, p := range []*[]byte{&r.uuid, &r.rpcID} {
		n, err := rd.ReadInt32()
		if err != nil || n < 0 || n > 1024 {
			return r, fmt.Errorf("bad length %d: %v", n, err)
		}
		*p = make([]byte, n)
		if err := rd.ReadFull(*p); err != nil {
			return r, err
		}
	}
	if !r.noChannel {
		var err error
		if r.msg, err = rd.ReadObject(); err != nil {
			return r, err
		}
	}
	return r, nil
}
