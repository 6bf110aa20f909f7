package replmap_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
)

// Three nodes run the map "sessions": node 0 puts an entry, node 2 gets it. With
// transport/nio and Java nodes running a LazyReplicatedMap of the same name, the code is
// the same.
func Example() {
	ctx := context.Background()
	maps, stop := startMaps(ctx, 3, replmap.Config{Name: "sessions"})
	defer stop()
	if _, err := maps[0].Put(ctx, "user-42", "Gopher"); err != nil {
		panic(err)
	}
	v, ok, err := maps[2].Get(ctx, "user-42")
	fmt.Println(v, ok, err)
	// Output:
	// Gopher true <nil>
}

// A value implementing Diffable (here a tally, a number that replicates the amounts added
// to it) is changed on its primary and replicated by diff; Config.Values makes the backup
// hold what it receives in full as a tally, so that the diff applies. SYNC_ACK makes
// Replicate return once the backup applied it.
func ExampleMap_Replicate() {
	ctx := context.Background()
	maps, stop := startMaps(ctx, 2, replmap.Config{Name: "tallies", Values: tallyCodec{},
		SendOptions: channel.OptUseAck | channel.OptSyncAck})
	defer stop()
	v := &tally{total: 40}
	if _, err := maps[0].Put(ctx, "k", v); err != nil { // in full: a java.lang.Long
		panic(err)
	}
	v.Add(2)
	if err := maps[0].Replicate(ctx, "k", false); err != nil { // the diff: 2
		panic(err)
	}
	backup, _, err := maps[1].Get(ctx, "k")
	fmt.Println(backup.(*tally).Total(), err)
	// Output:
	// 42 <nil>
}

// tally is a replmap.Diffable: its diff is the amount added since the last diff, as a
// serialized java.lang.Long. Safe for concurrent use, as the map requires.
type tally struct {
	mu             sync.Mutex
	total, pending int64
}

func (t *tally) Add(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += n
	t.pending += n
}

func (t *tally) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

func (t *tally) Dirty() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending != 0
}

func (t *tally) Diff() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, err := jserial.Marshal(t.pending)
	t.pending = 0
	return b, err
}

// ApplyDiff adds the amount of another tally's Diff; bytes from the network that are not
// a Long are an error, never a panic.
func (t *tally) ApplyDiff(diff []byte) error {
	v, err := jserial.Unmarshal(diff)
	if err != nil {
		return err
	}
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("tally diff: %T, want a Long", v)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += n
	return nil
}

// tallyCodec is the map's replmap.ValueCodec: a tally travels in full as its total, a
// java.lang.Long, and a Long received in full is held as a tally.
type tallyCodec struct{}

func (tallyCodec) Decode(v any) (any, error) {
	if n, ok := v.(int64); ok {
		return &tally{total: n}, nil
	}
	return v, nil
}

func (tallyCodec) Encode(v any) (any, error) {
	if t, ok := v.(*tally); ok {
		return t.Total(), nil
	}
	return v, nil
}

// startMaps starts n channels on a channeltest network and a started map with cfg on
// each; stop stops them.
func startMaps(ctx context.Context, n int, cfg replmap.Config) (maps []*replmap.Map, stop func()) {
	nw := channeltest.NewNetwork()
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var chans []*channel.Channel
	for range n {
		tn := nw.NewNode()
		d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
		if err != nil {
			panic(err)
		}
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(),
			Interceptors: []channel.Interceptor{d}})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		stops = append(stops, func() { _ = ch.Stop(ctx, channel.SvcAll) })
		chans = append(chans, ch)
	}
	// Create every map before starting any: a map answers the others' MSG_INIT from New
	// on, and a Go node without any rpc channel would not answer at all (Start would wait
	// RPCTimeout for it).
	for _, ch := range chans {
		cfg.Channel = ch
		m, err := replmap.New(cfg)
		if err != nil {
			panic(err)
		}
		stops = append(stops, func() { _ = m.Stop(ctx) })
		maps = append(maps, m)
	}
	for _, m := range maps {
		if err := m.Start(ctx); err != nil {
			panic(err)
		}
	}
	return maps, stop
}
