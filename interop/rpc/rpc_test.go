package rpcinterop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/rpc"
)

// Java's reply modes, as the peer's rpc command takes them.
const (
	javaFirst    = int(rpc.FirstReply)
	javaMajority = int(rpc.MajorityReply)
	javaAll      = int(rpc.AllReply)
	javaNone     = int(rpc.NoReply)
)

// TestGoCallsJava calls Java RpcChannels from a Go rpc.Channel in every mode. j1 and j2
// have an RpcChannel with the id (j2 stalls on requests starting with "stall"), j3 has
// none and answers NoRpcChannelReply from its GroupChannel.
func TestGoCallsJava(t *testing.T) {
	javapeer.Skip(t)
	j1 := javapeer.Start(t, "--rpc", rpcID)
	j2 := javapeer.Start(t, "--rpc", rpcID, "--rpc-stall-prefix", "stall")
	j3 := javapeer.Start(t)
	m1, m2, m3 := javaMember(t, j1), javaMember(t, j2), javaMember(t, j3)
	g := startGo(t)
	left := &leftOvers{}
	c := addRPC(t, g, rpcID, goAnswer, left.add)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()

	byPort := func(rs []rpc.Response) map[int32]any {
		out := map[int32]any{}
		for _, r := range rs {
			out[r.Member.Port] = r.Message
		}
		return out
	}
	for _, tc := range []struct {
		mode     rpc.Mode
		min, max int
	}{{rpc.FirstReply, 1, 2}, {rpc.MajorityReply, 1, 2}, {rpc.AllReply, 2, 2}} {
		for _, opts := range []channel.SendOptions{0, channel.OptUseAck, channel.OptUseAck | channel.OptSyncAck} {
			rs, err := c.Call(ctx, []channel.Member{m1, m2, m3}, "q", tc.mode, opts)
			if err != nil {
				t.Fatalf("%v %v: %v", tc.mode, opts, err)
			}
			got := byPort(rs)
			if len(rs) < tc.min || len(rs) > tc.max || len(got) != len(rs) {
				t.Fatalf("%v %v: responses %v, want %d..%d", tc.mode, opts, got, tc.min, tc.max)
			}
			for port, msg := range got {
				if (port != m1.Port && port != m2.Port) || msg != "java:q" {
					t.Errorf("%v: %q from port %d", tc.mode, msg, port)
				}
			}
		}
	}

	t.Run("Types", func(t *testing.T) {
		for _, tc := range []struct {
			msg   any
			check func(any) error
		}{
			{int32(42), equal(int32(42))},
			{nil, equal(nil)},
			{testMap(), checkMap},
			{newValue(t, "gopher"), func(v any) error { return checkValue(v, "gopher") }},
		} {
			rs, err := c.Call(ctx, []channel.Member{m1}, tc.msg, rpc.AllReply, channel.OptUseAck)
			if err != nil || len(rs) != 1 {
				t.Fatalf("%T: %v, %v", tc.msg, rs, err)
			}
			if err := tc.check(rs[0].Message); err != nil {
				t.Errorf("%T echoed by Java: %v", tc.msg, err)
			}
		}
	})

	t.Run("NoRpcChannel", func(t *testing.T) {
		rs, err := c.Call(ctx, []channel.Member{m3}, "q", rpc.AllReply, channel.OptUseAck)
		if err != nil || len(rs) != 0 {
			t.Fatalf("call to a node without the id: %v, %v", rs, err)
		}
	})

	t.Run("NoReply", func(t *testing.T) {
		rs, err := c.Call(ctx, []channel.Member{m1}, "n", rpc.NoReply, channel.OptUseAck)
		if err != nil || rs != nil {
			t.Fatalf("NoReply: %v, %v", rs, err)
		}
		j1.WaitEvent(t, testutil.WaitLimit, func(e javapeer.Event) bool {
			d := e.Describe()
			return e.Event == "rpcRequest" && d.Class == "java.lang.String" && d.String == "n"
		})
		// Java's RpcChannel answers anyway; the reply is a left-over.
		left.waitFor(t, "java:n", m1.Port)
	})

	t.Run("Stalled", func(t *testing.T) {
		sctx, scancel := context.WithTimeout(ctx, stallTimeout)
		defer scancel()
		rs, err := c.Call(sctx, []channel.Member{m1, m2}, "stall-1", rpc.AllReply, channel.OptUseAck)
		if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
		if got := byPort(rs); len(got) != 1 || got[m1.Port] != "java:stall-1" {
			t.Fatalf("responses %v", got)
		}
		// Majority of the two: one reply completes it despite the stalled member.
		rs, err = c.Call(ctx, []channel.Member{m1, m2}, "stall-2", rpc.MajorityReply, channel.OptUseAck)
		if err != nil || len(rs) != 1 {
			t.Fatalf("majority: %v, %v", rs, err)
		}
		if err := j2.ReleaseRPC(ctx); err != nil {
			t.Fatal(err)
		}
		left.waitFor(t, "java:stall-1", m2.Port)
		left.waitFor(t, "java:stall-2", m2.Port)
	})
}

// TestJavaCallsGo calls Go rpc.Channels from a Java RpcChannel in every mode. g1 and g2
// have the id, g3 has an rpc.Channel with another id (and answers NoRpcChannelReply), g4
// stalls on requests starting with "stall", g5 has no rpc.Channel at all and never
// answers.
func TestJavaCallsGo(t *testing.T) {
	javapeer.Skip(t)
	j := javapeer.Start(t, "--rpc", rpcID)
	jm := javaMember(t, j)
	requests := make(chan any, 16)
	g1, g2, g3, g4, g5 := startGo(t), startGo(t), startGo(t), startGo(t), startGo(t)
	addRPC(t, g1, rpcID, rpc.HandlerFunc(func(msg any, from channel.Member) (any, error) {
		if from.Port != jm.Port {
			return nil, fmt.Errorf("request from port %d", from.Port)
		}
		requests <- msg
		return goAnswer(msg, from)
	}), nil)
	addRPC(t, g2, rpcID, goAnswer, nil)
	addRPC(t, g3, "another-id", goAnswer, nil)
	release := make(chan struct{})
	addRPC(t, g4, rpcID, rpc.HandlerFunc(func(msg any, from channel.Member) (any, error) {
		if s, _ := msg.(string); strings.HasPrefix(s, "stall") {
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
		}
		return goAnswer(msg, from)
	}), nil)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // before the channels stop
		}
	})
	ms := func(chs ...*channel.Channel) []string {
		var out []string
		for _, ch := range chs {
			out = append(out, memberText(ch))
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	call := func(t *testing.T, to []string, mode int, timeout time.Duration, obj javapeer.Object) javapeer.RPCResult {
		t.Helper()
		r, err := j.Call(ctx, to, mode, int(channel.OptUseAck), timeout, obj)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	q := javapeer.Object{Kind: "string", Arg: "q"}
	ports := func(r javapeer.RPCResult) map[int]string {
		out := map[int]string{}
		for _, d := range r.Responses {
			if d.Class != "java.lang.String" {
				t.Errorf("response class %s", d.Class)
			}
			out[d.From.Port] = d.String
		}
		return out
	}
	p1, p2 := int(g1.LocalMember().Port), int(g2.LocalMember().Port)

	// g3 answers NoRpcChannelReply: ALL_REPLY completes with two replies, long before
	// its timeout.
	r := call(t, ms(g1, g2, g3), javaAll, callTimeout, q)
	if got := ports(r); len(got) != 2 || got[p1] != "go:q" || got[p2] != "go:q" || r.Millis >= callTimeout.Milliseconds() {
		t.Fatalf("ALL_REPLY: %v in %d ms", got, r.Millis)
	}
	r = call(t, ms(g1, g2, g3), javaMajority, callTimeout, q)
	if n := len(r.Responses); n < 1 || n > 2 || r.Millis >= callTimeout.Milliseconds() {
		t.Fatalf("MAJORITY_REPLY: %+v", r)
	}
	r = call(t, ms(g1, g2), javaFirst, callTimeout, q)
	if n := len(r.Responses); n < 1 || n > 2 || r.Millis >= callTimeout.Milliseconds() {
		t.Fatalf("FIRST_REPLY: %+v", r)
	}
	t.Run("Types", func(t *testing.T) {
		for _, tc := range []struct {
			obj           javapeer.Object
			class, string string
		}{
			{javapeer.Object{Kind: "int", Arg: "42"}, "java.lang.Integer", "42"},
			{javapeer.Object{Kind: "null"}, "null", "null"},
			{javapeer.Object{Kind: "map"}, "java.util.HashMap", "{a=1, b=two}"},
			{javapeer.Object{Kind: "value", Arg: "gopher"}, javapeer.ValueClass, "Value[name=gopher, count=6]"},
		} {
			r := call(t, ms(g2), javaAll, callTimeout, tc.obj)
			if len(r.Responses) != 1 || r.Responses[0].Class != tc.class || r.Responses[0].String != tc.string {
				t.Errorf("%v echoed by Go: %+v, want %s %q", tc.obj, r.Responses, tc.class, tc.string)
			}
		}
	})

	t.Run("NoReply", func(t *testing.T) {
		r := call(t, ms(g1), javaNone, callTimeout, javapeer.Object{Kind: "string", Arg: "n"})
		if len(r.Responses) != 0 {
			t.Fatalf("NO_REPLY: %+v", r)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "g1 got the NO_REPLY request", func() bool {
			select {
			case v := <-requests:
				return v == "n"
			default:
				return false
			}
		})
		// The Go reply is a left-over for Java's RpcChannel.
		j.WaitEvent(t, testutil.WaitLimit, isLeftOver("go:n", p1))
	})

	t.Run("NeverAnswers", func(t *testing.T) {
		// g4 stalls, g5 has no rpc.Channel: ALL_REPLY returns at the timeout with g1's reply.
		r := call(t, ms(g1, g4, g5), javaAll, stallTimeout, javapeer.Object{Kind: "string", Arg: "stall-1"})
		if got := ports(r); len(got) != 1 || got[p1] != "go:stall-1" {
			t.Fatalf("ALL_REPLY with members that never answer: %v", got)
		}
		close(release)
		j.WaitEvent(t, testutil.WaitLimit, isLeftOver("go:stall-1", int(g4.LocalMember().Port)))
	})
}

// isLeftOver matches the Java RpcChannel's left-over reply s from the member on port.
func isLeftOver(s string, port int) func(javapeer.Event) bool {
	return func(e javapeer.Event) bool {
		d := e.Describe()
		return e.Event == "rpcLeftOver" && d.String == s && d.From.Port == port
	}
}
