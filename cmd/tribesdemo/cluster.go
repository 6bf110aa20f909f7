package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/transport/nio"
)

type clusterNode struct {
	name string
	ch   *channel.Channel
	mbr  *static.Service
	got  atomic.Int64
}

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("nodes", 3, "number of nodes to start in this process")
	msgs := fs.Int("messages", 200, "messages each ack mode sends")
	size := fs.Int("size", 1024, "message size in bytes")
	seconds := fs.Float64("seconds", 60, "time limit in seconds")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo cluster [flags]\n\nStarts nodes on 127.0.0.1 in this process, shows them join, exchanges messages with\neach ack mode, stops one node and shows the typed error naming it, then exits.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 2 || *n > 16 || *msgs < 1 || *size < 0 {
		return fmt.Errorf("%w: --nodes 2..16, --messages >= 1, --size >= 0", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(*seconds*float64(time.Second)))
	defer cancel()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	var outMu sync.Mutex
	sayLocked := func(format string, a ...any) { outMu.Lock(); say(format, a...); outMu.Unlock() }

	nodes := make([]*clusterNode, *n)
	stopAll := func() {
		for _, nd := range nodes {
			if nd != nil {
				sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
				_ = nd.ch.Stop(sctx, channel.SvcAll)
				c()
			}
		}
	}
	defer stopAll()

	say("== starting %d nodes on 127.0.0.1", *n)
	for i := range nodes {
		cfg := nio.DefaultConfig()
		cfg.Port = 0 // any free port: several demos may run at once
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		tr, err := nio.New(cfg)
		if err != nil {
			return err
		}
		nd := &clusterNode{name: fmt.Sprintf("node%d", i+1), mbr: static.New()}
		nd.ch, err = channel.New(channel.Config{Transport: tr, Membership: nd.mbr})
		if err != nil {
			return err
		}
		nd.ch.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error {
			nd.got.Add(1)
			return nil
		}))
		if err := nd.ch.Start(ctx, channel.SvcAll); err != nil {
			return err
		}
		nodes[i] = nd
		lm := nd.ch.LocalMember()
		say("   %s listening on %s, unique id %s", nd.name, lm.Addr(), lm.UniqueID)
	}
	names := map[channel.MemberKey]string{}
	for _, nd := range nodes {
		names[nd.ch.LocalMember().Key()] = nd.name
	}
	for _, nd := range nodes {
		nd.ch.AddMembershipListener(channel.MembershipFuncs{
			Added: func(m channel.Member) { sayLocked("   %s sees %s join (%s)", nd.name, names[m.Key()], m.Addr()) },
			Disappeared: func(m channel.Member) {
				sayLocked("   %s sees %s leave (%s)", nd.name, names[m.Key()], m.Addr())
			},
		})
	}
	say("== members join (static membership: each node is told the others' addresses)")
	for _, nd := range nodes {
		for _, o := range nodes {
			if o != nd {
				nd.mbr.Add(o.ch.LocalMember())
			}
		}
	}

	payload := []byte(strings.Repeat("x", *size))
	say("== node1 sends %d messages of %d bytes to the %d others, in each ack mode", *msgs, *size, *n-1)
	for _, mode := range []struct {
		opts channel.SendOptions
		what string
	}{
		{channel.OptByteMessage, "no ack: returns once the bytes are written"},
		{channel.OptUseAck, "use_ack: waits for each receiver's ACK"},
		{channel.OptUseAck | channel.OptSyncAck, "use_ack,sync: waits until each receiver processed it"},
	} {
		before := received(nodes[1:])
		start := time.Now()
		for range *msgs {
			if err := nodes[0].ch.Send(ctx, nil, payload, mode.opts); err != nil {
				return fmt.Errorf("send (%v): %w", mode.opts, err)
			}
		}
		el := time.Since(start)
		want := before + int64(*msgs*(*n-1))
		if mode.opts == 0 {
			// No ACK: delivery is asynchronous; give the receivers a bounded moment to catch up.
			waitFor(ctx, 5*time.Second, func() bool { return received(nodes[1:]) >= want })
		}
		say("   %-13s %6.0f msgs/s  %7.1f µs per send  delivered %d/%d  (%s)", mode.opts.String()+":",
			float64(*msgs)/el.Seconds(), float64(el.Microseconds())/float64(*msgs), received(nodes[1:])-before, *msgs*(*n-1), mode.what)
	}

	last := nodes[len(nodes)-1]
	say("== %s stops; node1 sends with use_ack to the old member list", last.name)
	all := nodes[0].ch.Members()
	sctx, c := context.WithTimeout(ctx, 10*time.Second)
	err := last.ch.Stop(sctx, channel.SvcAll)
	c()
	if err != nil {
		return err
	}
	err = nodes[0].ch.Send(ctx, all, []byte("anyone there?"), channel.OptUseAck)
	var se *channel.SendError
	if errors.As(err, &se) {
		for _, f := range se.Faulty {
			say("   faulty member %s (%s): %v", names[f.Member.Key()], f.Member.Addr(), f.Err)
		}
		say("   errors.Is(err, channel.ErrConnect) = %v; the other members got the message", errors.Is(err, channel.ErrConnect))
	} else {
		return fmt.Errorf("expected a send error naming %s, got %v", last.name, err)
	}
	nodes[0].mbr.Remove(last.ch.LocalMember().Key())
	nodes = nodes[:len(nodes)-1]
	say("== stopping the other nodes")
	stopAll()
	nodes = nil
	say("== done")
	return nil
}

func received(nodes []*clusterNode) int64 {
	var t int64
	for _, nd := range nodes {
		t += nd.got.Load()
	}
	return t
}

// waitFor polls cond until it holds, ctx ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}
