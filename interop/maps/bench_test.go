package mapsinterop_test

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// benchEntries is the size of the map BenchmarkMapStateTransfer moves.
const benchEntries = 100_000

// BenchmarkMapStateTransfer moves a lazy map of benchEntries entries (the String "k<i>"
// to the Integer i) from a donor to a joiner, for each pair of Go and Java nodes
// (transport/nio and Java Tribes on 127.0.0.1, StaticMembershipService), alternating the
// pairs and starting fresh processes each time; the time is the joiner's map start (INIT,
// the state transfer, START). It reports the median time per pair and the ratios of
// Java's to Go's:
//
//	go test -run '^$' -bench MapStateTransfer -benchtime 3x ./interop/maps/
//
// GOTRIBES_MAP_PAIRS (for example "go-go,java-go") runs only the pairs it lists. The
// sub-benchmarks:
//   - orphans: the donor fills its map alone, so no entry has a backup, and it answers
//     the joiner's START once it made the joiner every entry's backup (as Java's map).
//   - backed: a node of the donor's kind backs up every entry as the donor fills the map;
//     the join is the state transfer (from either of them) and the INIT and START calls.
func BenchmarkMapStateTransfer(b *testing.B) {
	javapeer.Skip(b)
	b.Run("orphans", func(b *testing.B) { benchTransfer(b, false) })
	b.Run("backed", func(b *testing.B) { benchTransfer(b, true) })
}

func benchTransfer(b *testing.B, backed bool) {
	pairs := []string{"go-go", "java-java", "go-java", "java-go"}
	if p := os.Getenv("GOTRIBES_MAP_PAIRS"); p != "" {
		pairs = strings.Split(p, ",")
	}
	times := map[string][]time.Duration{}
	for i := range b.N {
		order := slices.Clone(pairs)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, p := range order {
			d := transferOnce(b, p[:2] == "go", p[len(p)-2:] == "go", backed)
			b.Logf("%s: %v", p, d)
			times[p] = append(times[p], d)
		}
	}
	med := map[string]float64{}
	for _, p := range pairs {
		ts := slices.Clone(times[p])
		slices.Sort(ts)
		med[p] = float64(ts[len(ts)/2]) / float64(time.Millisecond)
		b.ReportMetric(med[p], p+"-ms")
	}
	b.ReportMetric(med["java-java"]/med["go-go"], "java-java/go-go")
	b.ReportMetric(med["java-java"]/med["java-go"], "java-java/java-go")
	b.ReportMetric(med["java-java"]/med["go-java"], "java-java/go-java")
}

// transferOnce starts a donor (and with backed its backup node, of the same kind) and a
// joiner (Go or Java each), fills the donor's map, times the joiner's map start, checks
// the joiner knows every key, and stops them.
func transferOnce(b *testing.B, goDonor, goJoiner, backed bool) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n := 2
	if backed {
		n = 3 // donor, joiner, backup
	}
	ports := testutil.FreePorts(b, n)
	var members []channel.Member
	for i, p := range ports {
		members = append(members, member(p, i))
	}
	type side struct {
		m    *replmap.Map
		ch   *channel.Channel
		j    *javapeer.Peer
		stop func()
	}
	start := func(i int, goNode bool) side {
		others := append(slices.Clone(members[:i]), members[i+1:]...)
		if goNode {
			cfg := nio.DefaultConfig()
			// A Java node writes each entry's members anew when they came to it in
			// messages (a backup node's state): 23 MB for 100 000 entries, above the
			// default 16 MiB.
			cfg.Port, cfg.AutoBind, cfg.MaxFrameSize = ports[i], 1, 256<<20
			ch, err := node.New(node.Config{Transport: &cfg, UniqueID: id(i), StaticMembers: others,
				StaticProtocol: &staticsvc.Config{}})
			if err != nil {
				b.Fatal(err)
			}
			if err := ch.Start(ctx, channel.SvcAll); err != nil {
				b.Fatal(err)
			}
			return side{ch: ch, stop: func() { _ = ch.Stop(context.Background(), channel.SvcAll) }}
		}
		uid := id(i)
		var list []string
		for _, o := range others {
			list = append(list, wire.FormatMemberText(o))
		}
		j := javapeer.Start(b, "--port", strconv.Itoa(ports[i]), "--autobind", "1", "--id", hex.EncodeToString(uid[:]),
			"--static-membership", strings.Join(list, ","), "--channel-name", staticsvc.DefaultChannelName)
		return side{j: j, stop: j.Stop}
	}
	startMap := func(s *side) {
		if s.j != nil {
			if err := s.j.MapStart(ctx, mapName, time.Minute, false, int(sendOptions)); err != nil {
				b.Fatal(err)
			}
			return
		}
		m, err := replmap.New(replmap.Config{Channel: s.ch, Name: mapName, SendOptions: sendOptions, RPCTimeout: time.Minute,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			b.Fatal(err)
		}
		s.m = m
	}
	lists := func(s side, want int) bool {
		if s.j != nil {
			ms, err := s.j.Members(ctx)
			return err == nil && len(ms) == want
		}
		return len(s.ch.Members()) == want
	}
	donor := start(0, goDonor)
	defer donor.stop()
	var backup side
	if backed {
		backup = start(2, goDonor)
		defer backup.stop()
		testutil.EventuallyTrue(b, testutil.WaitLimit, "the donor and its backup list each other", func() bool {
			return lists(donor, 1) && lists(backup, 1)
		})
		startMap(&backup)
	}
	startMap(&donor)
	if donor.j != nil {
		if err := donor.j.MapFill(ctx, benchEntries); err != nil {
			b.Fatal(err)
		}
	} else {
		for i := range benchEntries {
			if _, err := donor.m.Put(ctx, "k"+strconv.Itoa(i), int32(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	joiner := start(1, goJoiner)
	defer joiner.stop()
	testutil.EventuallyTrue(b, testutil.WaitLimit, "the nodes list each other", func() bool {
		return lists(donor, n-1) && lists(joiner, n-1) && (!backed || lists(backup, n-1))
	})
	t0 := time.Now()
	startMap(&joiner)
	d := time.Since(t0)
	var keys int
	if joiner.j != nil {
		info, err := joiner.j.MapKeys(ctx)
		if err != nil {
			b.Fatal(err)
		}
		keys = len(info.Keys)
	} else {
		keys = len(joiner.m.Keys())
		_ = joiner.m.Stop(ctx)
	}
	for _, s := range []side{donor, backup} {
		if s.m != nil {
			_ = s.m.Stop(ctx)
		}
	}
	if keys != benchEntries {
		b.Fatalf("the joiner knows %d keys, want %d", keys, benchEntries)
	}
	return d
}
