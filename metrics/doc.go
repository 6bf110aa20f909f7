// Package metrics exposes the statistics of channels, transports, membership services,
// interceptors and session managers to monitoring: as Prometheus text on an HTTP handler,
// as JSON through expvar, and to Go code.
//
// A Registry holds named sources. A source is a function returning a struct of numbers
// (func() T or func() any), or a value with a Stats() method returning one, such as
// *channel.Channel, *nio.Transport, *mcast.Service, most interceptors, *delta.Manager and
// *delta.Cluster. Nothing is copied or counted by the registry itself: each scrape calls the
// sources, so registering costs nothing on the message path.
//
//	reg := metrics.NewRegistry()
//	if err := reg.RegisterChannel(ch); err != nil { ... }      // channel, transport, membership, interceptors
//	if err := reg.RegisterSessionManager(m); err != nil { ... } // session/delta
//	_ = reg.PublishExpvar("tribes")                              // optional: expvar's /debug/vars
//	go reg.Serve(ctx, "127.0.0.1:9100")                          // /metrics and /debug/vars
//
// Several channels in one process are told apart by labels:
//
//	reg.RegisterChannel(ch1, metrics.L("node", "node1"))
//	reg.RegisterChannel(ch2, metrics.L("node", "node2"))
//
// # Metric names and types
//
// Each numeric field of a source's struct becomes the metric tribes_<source>_<field>, the
// field's name in snake case (MessagesSent: messages_sent; TCPFailureDetector:
// tcp_failure_detector). The type follows from the field's Go type unless a struct tag says
// otherwise:
//
//   - unsigned integers are counters and get the suffix _total;
//   - signed integers, floats and booleans (0 or 1) are gauges;
//   - time.Duration is a gauge in seconds, suffix _seconds;
//   - time.Time is a gauge of Unix seconds, suffix _timestamp_seconds (left out while zero);
//   - a nested struct adds its field name to the prefix; an embedded one adds nothing;
//   - a map from a string, integer or fmt.Stringer key to a number gives one series per key,
//     labelled with the key type's name in snake case (map[delta.Event]uint64 gives
//     event="EVT_SESSION_DELTA"), or "key" for an unnamed key type;
//   - other fields (strings, slices, ...) are left out.
//
// Struct tags override this, for types that want it:
//
//	Waiting  uint64        `metrics:",gauge" help:"messages waiting now"`
//	TimeInTx time.Duration `metrics:"time_in_tx,counter"`
//	Sent     map[K]uint64  `metrics:",label=event"`
//	Debug    uint64        `metrics:"-"`
//
// The HELP line is the help tag, or else the Go name of the field ("channel.Stats.MessagesSent"),
// whose documentation says what it counts.
//
// The expvar form (Var, PublishExpvar) is one JSON object per source, keyed by the source
// name and its labels ("channel", `channel{node="node1"}`), holding the fields under their Go
// names, nested structs as objects and maps keyed by the key's string form; durations are
// nanoseconds as encoding/json writes them.
package metrics
