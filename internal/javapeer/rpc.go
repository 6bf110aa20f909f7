package javapeer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Objects the peer's sendobj and rpc commands can send (RpcPeer.object): Kind names the
// Java value, Arg is its argument.
//
//	{"string", s}     java.lang.String s
//	{"int", "42"}     java.lang.Integer
//	{"map", ""}       java.util.HashMap {a=1, b=two}
//	{"value", name}   RpcPeer$Value(name, len(name)), a custom Serializable
//	{"bytes", "64"}   byte[] of Content(64, 0, "")
//	{"null", ""}      null
type Object struct {
	Kind, Arg string
}

// ValueClass is the peer's custom Serializable class (fields: int count, String name;
// serialVersionUID 1).
const ValueClass = "RpcPeer$Value"

func (o Object) words() (string, error) {
	if o.Kind == "" || strings.ContainsAny(o.Kind+o.Arg, " \t\r\n") {
		return "", fmt.Errorf("javapeer: bad object %+v", o)
	}
	if o.Arg == "" {
		return o.Kind, nil
	}
	return o.Kind + " " + o.Arg, nil
}

func memberList(to []string) (string, error) {
	if len(to) == 0 {
		return "", errors.New("javapeer: no members")
	}
	for _, m := range to {
		if m == "" || strings.ContainsAny(m, ", \t\r\n") {
			return "", fmt.Errorf("javapeer: bad member %q", m)
		}
	}
	return strings.Join(to, ","), nil
}

// SendObject makes the peer send obj with GroupChannel.send(members, serializable,
// options): a Java serialization stream, OptByteMessage cleared.
func (p *Peer) SendObject(ctx context.Context, to []string, options int, obj Object) (SendResult, error) {
	ms, err := memberList(to)
	if err != nil {
		return SendResult{}, err
	}
	w, err := obj.words()
	if err != nil {
		return SendResult{}, err
	}
	ev, err := p.command(ctx, fmt.Sprintf("sendobj %s %d %s", ms, options, w))
	if err != nil {
		return SendResult{}, err
	}
	var r SendResult
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return SendResult{}, fmt.Errorf("javapeer: bad sendResult %q: %w", ev.Line, err)
	}
	return r, nil
}

// Described is a Java object as the peer reports it: its class name ("null" for null)
// and String.valueOf (cut at 200 characters).
type Described struct {
	From   From   `json:"from"`
	Class  string `json:"class"`
	String string `json:"string"`
}

// RPCResult is the answer to Peer.Call.
type RPCResult struct {
	Responses []Described `json:"responses"`
	Millis    int64       `json:"millis"` // how long RpcChannel.send took
}

// Call makes the peer (started with --rpc ID) call RpcChannel.send(members, obj, mode,
// options, timeout). Modes are Java's: 1 FIRST_REPLY, 2 MAJORITY_REPLY, 3 ALL_REPLY,
// 4 NO_REPLY.
func (p *Peer) Call(ctx context.Context, to []string, mode, options int, timeout time.Duration, obj Object) (RPCResult, error) {
	ms, err := memberList(to)
	if err != nil {
		return RPCResult{}, err
	}
	w, err := obj.words()
	if err != nil {
		return RPCResult{}, err
	}
	ev, err := p.command(ctx, fmt.Sprintf("rpc %s %d %d %d %s", ms, mode, options, timeout.Milliseconds(), w))
	if err != nil {
		return RPCResult{}, err
	}
	var r RPCResult
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return RPCResult{}, fmt.Errorf("javapeer: bad rpcResult %q: %w", ev.Line, err)
	}
	return r, nil
}

// ReleaseRPC unblocks the requests stalled by --rpc-stall-prefix.
func (p *Peer) ReleaseRPC(ctx context.Context) error {
	_, err := p.command(ctx, "rpc-release")
	return err
}

// Describe decodes the class and string of an "object", "rpcRequest" or "rpcLeftOver"
// event.
func (e Event) Describe() Described {
	d := Described{Class: e.Class}
	if e.From != nil {
		d.From = *e.From
	}
	d.String, _ = e.Raw["string"].(string)
	return d
}

// RPCBenchOptions configures RunRPCBench.
type RPCBenchOptions struct {
	To      string // "host:port:idhex" of a node started with --rpc ID --quiet
	ID      string // the rpc id
	Count   int    // timed calls
	Size    int    // bytes of the byte[] request, echoed back by the node
	Options int    // channel send options of the requests
	Warmup  int    // untimed calls first
}

// RunRPCBench runs `bench-rpc`: one thread in a fresh JVM making Count ALL_REPLY
// RpcChannel calls to To. P50us and P99us are the round-trip latencies.
func RunRPCBench(ctx context.Context, o RPCBenchOptions) (BenchResult, error) {
	if o.To == "" || o.ID == "" || o.Count <= 0 {
		return BenchResult{}, errors.New("javapeer: rpc bench needs To, ID and Count > 0")
	}
	return runBench(ctx, nil, "bench-rpc", "--to", o.To, "--rpc", o.ID,
		"--count", strconv.Itoa(o.Count), "--size", strconv.Itoa(o.Size),
		"--options", strconv.Itoa(o.Options), "--warmup", strconv.Itoa(o.Warmup))
}
