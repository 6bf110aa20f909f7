// Package metrics exposes the statistics of channels, transports, membership services,
// interceptors and session managers to monitoring: as a prometheus.Collector
// (github.com/prometheus/client_golang) that you register in a registry of your own, and
// as JSON through expvar.
//
// A Collector reads named sources. A source is a function returning a struct of numbers
// (func() T or func() any), or a value with a Stats() method returning one, such as
// *channel.Channel, *nio.Transport, *mcast.Service, most interceptors, *delta.Manager and
// *delta.Cluster. Nothing is copied or counted by the collector itself: each collection
// calls the sources, so collecting costs nothing on the message path.
//
//	c, err := metrics.NewCollector(metrics.Config{
//		Channel:         ch,                         // channel, transport, membership, interceptors
//		SessionManagers: []*delta.Manager{m},        // session/delta
//	})
//	if err != nil { ... }
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(c)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//	_ = c.PublishExpvar("tribes")                  // optional: expvar's /debug/vars
//
// Several channels in one process get a collector each, told apart by labels:
//
//	c1, _ := metrics.NewCollector(metrics.Config{Channel: ch1, Labels: prometheus.Labels{"node": "node1"}})
//	c2, _ := metrics.NewCollector(metrics.Config{Channel: ch2, Labels: prometheus.Labels{"node": "node2"}})
//
// A registry wants a metric to have the same label names wherever it comes from: two
// collectors in one registry whose channels have different interceptor stacks (one with
// two throughput interceptors, labelled by position, one with a single one) are refused
// when the second registers. Session clusters are labelled alike: one in
// Config.SessionClusters has no label, several each get position="<index in the list>"
// (TestTwoSessionClusters), so a collector of one cluster and one of two cannot share a
// registry either.
//
// # Metric names and types
//
// Each numeric field of a source's struct becomes the metric tribes_<source>_<field>, the
// field's name in snake case (MessagesSent: messages_sent; TCPFailureDetector:
// tcp_failure_detector), a plural acronym being one word (RememberedIVs: remembered_ivs;
// TestPluralAcronymName). The type follows from the field's Go type unless a struct tag says
// otherwise:
//
//   - unsigned integers are counters and get the suffix _total;
//   - signed integers, floats and booleans (0 or 1) are gauges;
//   - time.Duration is a gauge in seconds, suffix _seconds;
//   - time.Time is a gauge of Unix seconds, suffix _timestamp_seconds (left out while zero);
//   - a nested struct, or a pointer to one, adds its field name to the prefix; an embedded
//     one adds nothing; a nil pointer leaves its fields out;
//   - a map from a string, integer or fmt.Stringer key to a number gives one series per key,
//     labelled with the key type's name in snake case (map[delta.Event]uint64 gives
//     event="EVT_SESSION_DELTA"), or "key" for an unnamed key type;
//   - other fields (strings, slices, interfaces, ...) are left out.
//
// Struct tags override this, for types that want it:
//
//	Waiting  uint64        `metrics:",gauge" help:"messages waiting now"`
//	TimeInTx time.Duration `metrics:"time_in_tx,counter"`
//	Sent     map[K]uint64  `metrics:",label=event"`
//	Debug    uint64        `metrics:"-"`
//
// The help text is the help tag, or else the Go name of the field ("channel.Stats.MessagesSent"),
// whose documentation says what it counts.
//
// The expvar form (Var, PublishExpvar) is one JSON object per source, keyed by the source
// name and its labels ("channel", `channel{node="node1"}`), holding the fields under their Go
// names, nested structs as objects and maps keyed by the key's string form; durations are
// nanoseconds as encoding/json writes them. JSON has no NaN or infinity: such a float is the
// string "NaN", "+Inf" or "-Inf" (TestExpvarNonFiniteFloats), and should a snapshot not
// encode at all (a time past year 9999) the value is {"error": "<why>"}, so /debug/vars
// stays valid JSON (TestExpvarUnencodable). A name PublishExpvar finds taken, even by a
// concurrent call or by other code meanwhile, is an error wrapping ErrExpvarTaken
// (TestPublishExpvarConcurrent, TestPublishExpvarRacesDirectPublish).
package metrics
