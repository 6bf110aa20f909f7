package replmap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/static"
)

// The defaults the package documentation and docs/maps.md give, as literal values rather
// than the constants, so that a changed constant fails here until the documents follow:
// a zero Config's timeouts (Java's rpcTimeout and accessTimeout, 5 s) and limits.
func TestDefaultsAsDocumented(t *testing.T) {
	tn := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: static.New(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{Channel: ch, Name: "defaults"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background()) }()
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"RPCTimeout", m.cfg.RPCTimeout, 5 * time.Second},
		{"AccessTimeout", m.cfg.AccessTimeout, 5 * time.Second},
		{"MaxMessageBytes", m.cfg.MaxMessageBytes, 64 << 20},
		{"MaxEntries", m.cfg.MaxEntries, 262144},
		{"MaxStoredBytes", m.cfg.MaxStoredBytes, int64(1) << 30},
		{"MaxForwardQueue", m.cfg.MaxForwardQueue, 16384},
		{"MaxForwarders", m.cfg.MaxForwarders, 8},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v (%T), documented %v (%T)", f.name, f.got, f.got, f.want, f.want)
		}
	}
}

// A received MapMessage carries at most 1024 backup members (the package documentation);
// one with 1025 is refused with an error wrapping ErrBadMessage. Only the encoding side's
// refusal had a test.
func TestReceivedMessageWithTooManyNodesRefused(t *testing.T) {
	c := newCodec(0, DefaultMaxMessageBytes)
	mb := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1}
	nodes := make([]channel.Member, 1024)
	for i := range nodes {
		nodes[i] = mb
	}
	for _, n := range []int{1024, 1025} {
		o, err := c.object(&message{MapID: []byte("m"), Type: msgBackup, Nodes: nodes})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := o.Field("nodes")
		arr, ok := v.(*jserial.Array)
		if !ok || len(arr.Elems) != 1024 {
			t.Fatalf("nodes field %T", v)
		}
		if n > len(arr.Elems) {
			arr.Elems = append(arr.Elems, arr.Elems[0])
		}
		b, err := jserial.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.unmarshal(b)
		switch {
		case n == 1024 && (err != nil || len(got.Nodes) != 1024):
			t.Errorf("1024 nodes: %v", err)
		case n == 1025 && !errors.Is(err, ErrBadMessage):
			t.Errorf("1025 nodes: %v, want ErrBadMessage", err)
		}
	}
}
