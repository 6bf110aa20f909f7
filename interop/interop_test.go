package interop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

var sizes = []int{0, 1, 64 << 10, 8 << 20}

var ackModes = []channel.SendOptions{
	channel.OptByteMessage,                                          // 1: no ack
	channel.OptByteMessage | channel.OptUseAck,                      // 3: ack on receipt
	channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck, // 7: ack after processing
}

// goNode is a Go channel on loopback with nio and a static member list.
type goNode struct {
	ch   *channel.Channel
	msgs chan *channel.Message
	fail atomic.Pointer[func(*channel.Message) error] // set by tests while the node runs
}

func startGo(t *testing.T, members ...channel.Member) *goNode {
	t.Helper()
	return startGoWith(t, nio.DefaultConfig(), members...)
}

// startGoWith is startGo with a transport configuration (its port and timeout are set
// here).
func startGoWith(t *testing.T, cfg nio.Config, members ...channel.Member) *goNode {
	t.Helper()
	cfg.Port = 0
	cfg.Timeout = 10 * time.Second // 8 MiB under -race on a loaded 2-core machine
	n := &goNode{msgs: make(chan *channel.Message, 64)}
	var err error
	// A node listing no member takes messages from the test's Java peers all the same.
	n.ch, err = node.New(node.Config{Transport: &cfg, StaticMembers: members, AcceptNonMembers: len(members) == 0})
	if err != nil {
		t.Fatal(err)
	}
	n.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if f := n.fail.Load(); f != nil {
			if err := (*f)(m); err != nil {
				return err
			}
		}
		n.msgs <- m
		return nil
	}))
	channeltest.Start(t, n.ch)
	return n
}

func (n *goNode) member() string { return wire.FormatMemberText(n.ch.LocalMember()) }

func (n *goNode) next(t *testing.T) *channel.Message {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message within 30 s")
		return nil
	}
}

func javaMember(t *testing.T, p *javapeer.Peer) channel.Member {
	t.Helper()
	m, err := p.ChannelMember()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// TestGoToJava sends from Go to a Java node in every ack mode and size; Java sees the bytes
// and the Go member's host, port and unique id. The Java node runs no membership, so its
// ACKs of the synchronized sends show that Java acknowledges a sender it does not list
// (docs/wire-format.md).
func TestGoToJava(t *testing.T) {
	p := javapeer.Start(t)
	g := startGo(t, javaMember(t, p))
	local := g.ch.LocalMember()
	for _, opts := range ackModes {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("options=%d/size=%s", opts, sizeName(size)), func(t *testing.T) {
				data := javapeer.Content(size, int(opts), "")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := g.ch.Send(ctx, nil, data, opts); err != nil {
					t.Fatalf("send: %v", err)
				}
				ev := p.WaitEvent(t, 30*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data)))
				if ev.Size != size {
					t.Fatalf("java got %d bytes, want %d", ev.Size, size)
				}
				if ev.Options != int(opts) {
					t.Fatalf("java saw options %d, want %d", ev.Options, opts)
				}
				f := ev.From
				if f == nil || f.Host != "127.0.0.1" || f.Port != int(local.Port) || f.ID != local.UniqueID.String() {
					t.Fatalf("java sees sender %+v, want %s", f, local.String())
				}
			})
		}
	}
}

// TestJavaToGo has the Java node send to Go in every ack mode and size; Go sees the bytes and
// Java's host, port and unique id.
func TestJavaToGo(t *testing.T) {
	p := javapeer.Start(t)
	g := startGo(t)
	javaToGo(t, p, g)
}

// TestJavaToGoDeliveringOnTheEventLoop is TestJavaToGo with nio.Config.DeliverOnEventLoop:
// the Go receiver (on gnet, the engine with event loops) answers Java's ACKs from its
// event loop.
func TestJavaToGoDeliveringOnTheEventLoop(t *testing.T) {
	p := javapeer.Start(t)
	cfg := nio.DefaultConfig()
	cfg.Engine, cfg.DeliverOnEventLoop = nio.EngineGnet, true // the goroutine engine, the default, has no event loop
	g := startGoWith(t, cfg)
	javaToGo(t, p, g)

	// A Go listener error reaches a sync-ack Java sender as a failure.
	fail := func(m *channel.Message) error {
		if bytes.HasPrefix(m.Data, []byte("BAD")) {
			return errors.New("refused by the Go listener")
		}
		return nil
	}
	g.fail.Store(&fail)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Send(ctx, []string{g.member()}, 1, 16, 7, "BAD")
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 1 || len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Cause, "RemoteProcessException") {
		t.Fatalf("java send result %+v, want a RemoteProcessException", res)
	}
}

// javaToGo sends one message of every ack mode and size from Java to g and checks what g
// received.
func javaToGo(t *testing.T, p *javapeer.Peer, g *goNode) {
	for _, opts := range ackModes {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("options=%d/size=%s", opts, sizeName(size)), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				res, err := p.Send(ctx, []string{g.member()}, 1, size, int(opts), "")
				if err != nil {
					t.Fatal(err)
				}
				if res.Sent != 1 || res.Failed != 0 {
					t.Fatalf("java send result %+v", res)
				}
				m := g.next(t)
				if !bytes.Equal(m.Data, javapeer.Content(size, 0, "")) {
					t.Fatalf("content differs (%d bytes)", len(m.Data))
				}
				if m.Options != opts {
					t.Fatalf("options %v, want %v", m.Options, opts)
				}
				if m.Source.IP().String() != p.Host || int(m.Source.Port) != p.Port || m.Source.UniqueID != p.ID {
					t.Fatalf("go sees sender %s, want %s", m.Source.String(), p.Member())
				}
				if len(m.ID) != 16 {
					t.Fatalf("message id %x", m.ID)
				}
			})
		}
	}
}

// TestUDPBothWays: messages with channel.OptUDP (0x20) travel as datagrams to the
// member's UDP port, from Go to a Java receiver with a UDP port (NioReceiver udpPort) and
// from Java to a Go receiver with UDP on, at sizes up to the largest datagram frame;
// each side sees the bytes, the option and the sender.
func TestUDPBothWays(t *testing.T) {
	javaUDP := testutil.FreePortsUDP(t, 1)[0]
	p := javapeer.Start(t, "--udp-port", strconv.Itoa(javaUDP))
	jm := javaMember(t, p)
	jm.UDPPort = int32(javaUDP)
	cfg := nio.DefaultConfig()
	cfg.UDP = true
	g := startGoWith(t, cfg, jm)
	local := g.ch.LocalMember()
	if local.UDPPort <= 0 {
		t.Fatalf("Go's member has no UDP port: %s", local.String())
	}
	opts := channel.OptByteMessage | channel.OptUDP
	for _, size := range []int{0, 64, 1000, 60000} {
		t.Run(fmt.Sprintf("GoToJava/size=%s", sizeName(size)), func(t *testing.T) {
			data := javapeer.Content(size, 1, "udp")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := g.ch.Send(ctx, nil, data, opts); err != nil {
				t.Fatalf("send: %v", err)
			}
			ev := p.WaitEvent(t, 30*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data)))
			if ev.Size != len(data) || ev.Options != int(opts) {
				t.Fatalf("java got %d bytes with options %d, want %d with %d", ev.Size, ev.Options, len(data), opts)
			}
			if f := ev.From; f == nil || f.Port != int(local.Port) || f.ID != local.UniqueID.String() {
				t.Fatalf("java sees sender %+v, want %s", f, local.String())
			}
		})
		t.Run(fmt.Sprintf("JavaToGo/size=%s", sizeName(size)), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			to := fmt.Sprintf("%s@%d", g.member(), local.UDPPort)
			res, err := p.Send(ctx, []string{to}, 1, size, int(opts), "")
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != 1 || res.Failed != 0 {
				t.Fatalf("java send result %+v", res)
			}
			m := g.next(t)
			if !bytes.Equal(m.Data, javapeer.Content(size, 0, "")) || m.Options != opts {
				t.Fatalf("go got %d bytes with options %v, want %d with %v", len(m.Data), m.Options, size, opts)
			}
			if int(m.Source.Port) != p.Port || m.Source.UniqueID != p.ID {
				t.Fatalf("go sees sender %s, want %s", m.Source.String(), p.Member())
			}
		})
	}
	if st := g.ch.Transport().(*nio.Transport).Stats(); st.DatagramsReceived != 4 {
		t.Errorf("Go received %d datagrams, want the 4 Java sent", st.DatagramsReceived)
	}
}

// TestJavaListenerThrows: a Java listener that throws makes a sync-ack Go send fail with a
// FAIL_ACK naming the Java member; with a plain ACK the failure is invisible, as in Java.
func TestJavaListenerThrows(t *testing.T) {
	p := javapeer.Start(t, "--throw-prefix", "THROW")
	jm := javaMember(t, p)
	g := startGo(t, jm)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := g.ch.Send(ctx, nil, []byte("THROW please"), channel.OptUseAck|channel.OptSyncAck)
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("err = %v, want ErrAckFailed", err)
	}
	var se *channel.SendError
	if !errors.As(err, &se) || len(se.Faulty) != 1 || se.Faulty[0].Member.Port != jm.Port {
		t.Fatalf("faulty members %+v", channel.FaultyMembers(err))
	}
	if err := g.ch.Send(ctx, nil, []byte("THROW again"), channel.OptUseAck); err != nil {
		t.Fatalf("use_ack send to a throwing listener: %v", err)
	}
	if err := g.ch.Send(ctx, nil, []byte("fine"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatalf("sync send of a normal message: %v", err)
	}
}

// TestGoListenerFails: a Go listener error reaches a sync-ack Java sender as a failure.
func TestGoListenerFails(t *testing.T) {
	p := javapeer.Start(t)
	g := startGo(t)
	fail := func(m *channel.Message) error {
		if bytes.HasPrefix(m.Data, []byte("BAD")) {
			return errors.New("refused by the Go listener")
		}
		return nil
	}
	g.fail.Store(&fail)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Send(ctx, []string{g.member()}, 1, 16, 7, "BAD")
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 1 || len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Cause, "RemoteProcessException") {
		t.Fatalf("java send result %+v, want a RemoteProcessException", res)
	}
	res, err = p.Send(ctx, []string{g.member()}, 1, 16, 7, "GOOD")
	if err != nil || res.Sent != 1 {
		t.Fatalf("good message: %+v %v", res, err)
	}
}

// TestJavaEchoesGo: Java receives from Go and sends back on its own connection to the
// address in the ChannelData, which must be the Go receiver.
func TestJavaEchoesGo(t *testing.T) {
	p := javapeer.Start(t, "--echo")
	g := startGo(t, javaMember(t, p))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		data := []byte(fmt.Sprintf("echo %d", i))
		if err := g.ch.Send(ctx, nil, data, channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
		m := g.next(t)
		if !bytes.Equal(m.Data, data) {
			t.Fatalf("echo %q, want %q", m.Data, data)
		}
	}
}

// kvOnly accepts only messages that start with "kv:", as an application that shares its
// channel with others.
type kvOnly struct{}

func (kvOnly) Accept(m *channel.Message) bool         { return bytes.HasPrefix(m.Data, []byte("kv:")) }
func (kvOnly) MessageReceived(*channel.Message) error { return nil }

// TestJavaSyncAckNobodyAcceptsOnGo: a Java sync-ack send that no Go listener accepts fails
// with a FAIL_ACK (Java sees a RemoteProcessException) unless the Go node sets
// AckUnaccepted, which ACKs as a Java receiver does.
func TestJavaSyncAckNobodyAcceptsOnGo(t *testing.T) {
	p := javapeer.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ackUnaccepted := range []bool{false, true} {
		cfg := nio.DefaultConfig()
		cfg.Port = 0
		ch, err := node.New(node.Config{Transport: &cfg, AcceptNonMembers: true, AckUnaccepted: ackUnaccepted})
		if err != nil {
			t.Fatal(err)
		}
		ch.AddMessageListener(kvOnly{})
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
		to := []string{wire.FormatMemberText(ch.LocalMember())}
		res, err := p.Send(ctx, to, 1, 16, 7, "other")
		if err != nil {
			t.Fatal(err)
		}
		if ackUnaccepted && res.Sent != 1 {
			t.Errorf("AckUnaccepted: java send result %+v, want sent", res)
		}
		if !ackUnaccepted && (res.Failed != 1 || len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Cause, "RemoteProcessException")) {
			t.Errorf("java send result %+v, want a RemoteProcessException", res)
		}
		if res, err := p.Send(ctx, to, 1, 16, 7, "kv:"); err != nil || res.Sent != 1 {
			t.Errorf("accepted message: %+v %v", res, err)
		}
		if st := ch.Stats(); st.Unhandled == 0 {
			t.Errorf("unhandled %d", st.Unhandled)
		}
	}
}
