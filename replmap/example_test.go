package replmap_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/mapnotes"
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

// A value implementing Diffable (here mapnotes.Notes, a list of strings) is changed on
// its primary and replicated by diff; Config.Values makes the backup hold what it
// receives as such a value, so that the diff applies. SYNC_ACK makes Replicate return
// once the backup applied it.
func ExampleMap_Replicate() {
	ctx := context.Background()
	maps, stop := startMaps(ctx, 2, replmap.Config{Name: "notes", Values: mapnotes.Codec{},
		SendOptions: channel.OptUseAck | channel.OptSyncAck})
	defer stop()
	v := mapnotes.New("first")
	if _, err := maps[0].Put(ctx, "k", v); err != nil {
		panic(err)
	}
	v.Add("second")
	if err := maps[0].Replicate(ctx, "k", false); err != nil {
		panic(err)
	}
	backup, _, err := maps[1].Get(ctx, "k")
	fmt.Println(backup.(*mapnotes.Notes).Items(), err)
	// Output:
	// [first second] <nil>
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
