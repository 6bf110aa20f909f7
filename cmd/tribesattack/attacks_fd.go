package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// fdChurnWorkers open and close connections to the target at once, over and over: about
// twice the target's descriptors (clusterOpts.targetNofile, 256) are open at a time on
// its side, so that its accepts fail, stop failing and fail again as the closes land.
const fdChurnWorkers = 512

// fdChurnSettle is how long fdChurn waits, once it stopped connecting, for the target to
// report its receiver healthy again: the receiver checks for free descriptors every
// 500 ms while no connection arrives.
const fdChurnSettle = 3 * time.Second

// fdChurnLogLimit bounds what the target may log during fdChurn, well under the suite's
// log limit, which a short run of the attack stayed under while the receiver and the
// channel logged each failure and recovery (46 KB in 2.5 s).
const fdChurnLogLimit = 16 << 10

// lastBurst opens fdChurnWorkers connections to addr at once, waits until the target
// closed some of them (shed: its descriptors ran out) or a second passed, and closes them
// all. It returns how many it opened and how many the target closed (shed, or closed
// as idle past FirstFrameTimeout) within that second.
func lastBurst(addr string) (opened, shed int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conns := make(chan net.Conn, fdChurnWorkers)
	workers(ctx, fdChurnWorkers, func(ctx context.Context, _ int) {
		if conn, err := dial(ctx, addr); err == nil {
			conns <- conn
		}
	})
	close(conns)
	var closed atomic.Int64
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	defer wcancel()
	var all []net.Conn
	for conn := range conns {
		all = append(all, conn)
	}
	workers(wctx, len(all), func(wctx context.Context, i int) {
		_ = all[i].SetReadDeadline(time.Now().Add(time.Second))
		if _, err := all[i].Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed.Add(1)
		}
	})
	for _, conn := range all {
		_ = conn.Close()
	}
	return len(all), int(closed.Load())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// fdChurn opens connections to a target limited to 256 descriptors and closes each at
// once (every other one with a reset), so that its receiver fails and recovers again and
// again, and ends with a burst of connections past the limit (lastBurst), so that the
// target's last accepts fail. Its breaches: a target whose accepts never failed (nothing
// was shown), a target whose log grew past fdChurnLogLimit, and a target still reported
// unhealthy fdChurnSettle after the attack stopped connecting (the
// receiver reported its recovery only at the next accept that worked, so that a node
// whose last accept failed stayed down for a health check until a peer next connected).
// Each failure and recovery was logged, two lines at the receiver and two at the channel.
func fdChurn(ctx context.Context, c *cluster) (outcome, error) {
	before, err := c.stats(0)
	if err != nil {
		return outcome{}, fmt.Errorf("target stats: %w", err)
	}
	log0 := c.nodes[0].logBytes.Load()
	var opened atomic.Int64
	workers(ctx, fdChurnWorkers, func(ctx context.Context, i int) {
		for ctx.Err() == nil {
			conn, err := dial(ctx, c.nodes[0].addr)
			if err != nil {
				sleep(ctx, 5*time.Millisecond)
				continue
			}
			opened.Add(1)
			if tc, ok := conn.(*net.TCPConn); ok && i%2 == 1 {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
		}
	})
	// The last accepts must fail: a burst of connections past the limit, held until the
	// target sheds some, then closed, after which nothing connects.
	burst, shed := lastBurst(c.nodes[0].addr)
	opened.Add(int64(burst))
	out := outcome{}
	if opened.Load() == 0 {
		return out, errors.New("not one connection reached the target")
	}
	healthy := false
	deadline := time.Now().Add(fdChurnSettle)
	var st nodeStats
	for {
		if st, err = c.stats(0); err == nil && st.Healthy {
			healthy = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return out, fmt.Errorf("target stats: %w", err)
	}
	failures := st.Transport.ReceiverFailures - before.Transport.ReceiverFailures
	logged := c.nodes[0].logBytes.Load() - log0
	out.note = fmt.Sprintf("%d connections opened and closed (RLIMIT_NOFILE %d), %d of the last %d closed by the target; accepts failed %d times, recovered %d; %d log bytes; healthy %v after the attack: %v",
		opened.Load(), st.Nofile, shed, burst, failures, st.Transport.ReceiverRestarts-before.Transport.ReceiverRestarts, logged, fdChurnSettle, healthy)
	if logged > fdChurnLogLimit {
		out.breaches++
		out.note += "; the failures and recoveries FLOODED the log"
	}
	if failures == 0 {
		out.breaches++
		out.note += "; the target's descriptors did NOT run out"
	}
	if !healthy {
		out.breaches++
		out.note += "; the target was still reported UNHEALTHY"
	}
	return out, nil
}
