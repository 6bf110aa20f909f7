package staticsvc

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/wire"
)

type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStrangerBadRequestsLogBounded: the service's RPC channel takes requests from
// non-members (AcceptNonMembers: START and PING come from nodes not listed yet), and a
// request that does not decode as a MemberMessage is counted (Stats.BadRequests) and
// logged at Warn rate-limited per sender, as the service's other refusals (oversized
// member, too many members). Before, it was logged once per request: a stranger that can
// reach the receiver port wrote a warning line into the target's log per request it sent,
// where docs/security.md promises that what a peer can repeat is logged rate-limited, with
// a budget of 60 lines a minute per kind across all peers.
func TestStrangerBadRequestsLogBounded(t *testing.T) {
	p := testutil.FreePorts(t, 3)
	list := make([]channel.Member, 0, 2)
	for _, port := range p[:2] {
		m, err := wire.ParseMemberText(fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, m)
	}
	var log lockedLog
	svc, err := New(Config{Members: list, ExpirationTime: time.Hour, PingInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	a := startChannel(t, p[0], svc)
	target := a.LocalMember()

	// The stranger: its own channel on a port no static list names, and an RPC channel
	// with the service's id.
	x := startChannel(t, p[2], static.New(target))
	rc, err := rpc.New(rpc.Config{Channel: x, ID: svc.MembershipID(), Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil }),
		AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(context.Background())
	base := len(log.String())
	const requests = 1000
	for i := range requests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// Each call waits for the target's (null) reply: the request has been handled.
		_, err := rc.Call(ctx, []channel.Member{target}, fmt.Sprintf("not a member message %d", i), rpc.FirstReply, 0)
		cancel()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := svc.Stats().BadRequests; n != requests {
		t.Errorf("Stats.BadRequests = %d, want %d", n, requests)
	}
	got := log.String()[base:]
	if len(got) > 64<<10 {
		lines := bytes.Count([]byte(got), []byte("\n"))
		t.Errorf("%d bad requests from a stranger wrote %d bytes (%d lines) of warnings, limit 64 KiB; the first:\n%s",
			requests, len(got), lines, got[:bytes.IndexByte([]byte(got), '\n')+1])
	}
}
