package metrics

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// Namespace is the first part of every metric name.
const Namespace = "tribes"

// ErrDuplicate is returned by NewCollector when two sources have the same name and labels,
// or one session cluster is listed twice.
var ErrDuplicate = errors.New("metrics: source given twice")

// Source is a named source of statistics for a Collector.
type Source struct {
	// Name is the second part of each metric name (tribes_<Name>_<field>): lower case
	// letters, digits and underscores.
	Name string
	// Stats is a function without arguments returning a struct or a pointer to one
	// (func() T, or func() any returning the same type every time), or a value with a
	// method Stats() returning such a struct, such as *channel.Channel or *nio.Transport.
	// It is called once by NewCollector, to learn the struct type, and then at every
	// collection, from the collecting goroutine: it must be safe for concurrent use.
	Stats any
	// Labels go on every metric of the source, besides Config.Labels.
	Labels prometheus.Labels
}

// Config says what a Collector reports. Every field is optional.
type Config struct {
	// Channel: its statistics, its transport's, its membership service's and its
	// interceptors'; see NewCollector.
	Channel *channel.Channel
	// SessionManagers: each one's delta.Stats and readiness, as the source "sessions"
	// labelled context="<the manager's name>".
	SessionManagers []*delta.Manager
	// SessionClusters: each one's delta.ClusterStats as the source "session_cluster";
	// when there are several, each is labelled position="<its index in SessionClusters>",
	// as a repeated interceptor type is.
	SessionClusters []*delta.Cluster
	// Sources: any other statistics.
	Sources []Source
	// Labels go on every metric of the collector: several channels in one process are
	// told apart by a collector each, with labels such as {"node": "node1"}.
	Labels prometheus.Labels
}

// Collector is a prometheus.Collector of the statistics of channels, transports,
// membership services, interceptors and session managers, read from them at every
// collection. Register it in a prometheus.Registry of your own. It also gives the same
// numbers to expvar (Var, PublishExpvar). It is safe for concurrent use.
type Collector struct {
	sources []*source // in the order of the Config
}

var _ prometheus.Collector = (*Collector)(nil)

// source is one Source, ready to collect.
type source struct {
	name   string
	labels prometheus.Labels
	get    func() (reflect.Value, bool) // the source's struct now; false if it has none
	typ    reflect.Type                 // the struct type learnt at NewCollector
	fields []field
	descs  []*prometheus.Desc // per field
	// mapLabels holds per field the label of a map's keys ("" for a number): the
	// field's mapLabel, renamed if a source label has its name.
	mapLabels []string
}

// NewCollector returns a collector of what cfg lists. A channel gives the sources:
//
//   - "channel": channel.Stats, plus the member count (tribes_channel_members), the
//     started levels (tribes_channel_started_levels) and Channel.Healthy
//     (tribes_channel_healthy, 0 or 1);
//   - "transport": the transport's Stats, if it has a Stats method (transport/nio does);
//   - "membership": the membership service's Stats, if it has one (membership/mcast does);
//   - "interceptor_<type>": each interceptor with a Stats method, named after its Go type
//     in snake case (interceptor_message_dispatch, interceptor_tcp_failure_detector); an
//     interceptor type that appears more than once gets a position label, its index in
//     the stack.
//
// It returns an error, and no collector, for an invalid source or label name, a source
// whose Stats is not of a form Source describes, or ErrDuplicate for two sources with the
// same name and labels or a session cluster listed twice.
func NewCollector(cfg Config) (*Collector, error) {
	for name := range cfg.Labels {
		if !validLabelName(name) {
			return nil, fmt.Errorf("metrics: invalid label name %q", name)
		}
	}
	var all []Source
	if cfg.Channel != nil {
		all = append(all, channelSources(cfg.Channel)...)
	}
	for _, m := range cfg.SessionManagers {
		if m == nil {
			return nil, errors.New("metrics: nil session manager")
		}
		all = append(all, managerSource(m))
	}
	for i, cl := range cfg.SessionClusters {
		if cl == nil {
			return nil, errors.New("metrics: nil session cluster")
		}
		if slices.Contains(cfg.SessionClusters[:i], cl) {
			return nil, fmt.Errorf("%w: session cluster %d is cluster %d again", ErrDuplicate, i, slices.Index(cfg.SessionClusters, cl))
		}
		var labels prometheus.Labels
		if len(cfg.SessionClusters) > 1 {
			labels = prometheus.Labels{"position": strconv.Itoa(i)}
		}
		all = append(all, Source{Name: "session_cluster", Stats: cl, Labels: labels})
	}
	all = append(all, cfg.Sources...)

	c := &Collector{}
	keys := map[string]bool{}
	labelNames := map[string]string{} // metric name → its label names, as a registry wants them alike
	for _, src := range all {
		s, err := newSource(src, cfg.Labels)
		if err != nil {
			return nil, err
		}
		if keys[s.key()] {
			return nil, fmt.Errorf("%w: %s", ErrDuplicate, s.key())
		}
		keys[s.key()] = true
		for i, f := range s.fields {
			name := s.fqName(f)
			names := strings.Join(slices.Sorted(maps.Keys(s.labels)), ",") + "," + s.mapLabels[i]
			if prev, ok := labelNames[name]; ok && prev != names {
				return nil, fmt.Errorf("metrics: %s: %s has other label names than the same metric of another source", s.key(), name)
			}
			labelNames[name] = names
		}
		c.sources = append(c.sources, s)
	}
	return c, nil
}

// fqName is the full name of a metric of s.
func (s *source) fqName(f field) string { return Namespace + "_" + s.name + "_" + f.name }

func newSource(src Source, common prometheus.Labels) (*source, error) {
	if !validName(src.Name) || strings.ToLower(src.Name) != src.Name {
		return nil, fmt.Errorf("metrics: invalid source name %q: use lower case letters, digits and _", src.Name)
	}
	labels := maps.Clone(common)
	if labels == nil {
		labels = prometheus.Labels{}
	}
	for name, v := range src.Labels {
		if !validLabelName(name) {
			return nil, fmt.Errorf("metrics: source %s: invalid label name %q", src.Name, name)
		}
		if _, dup := labels[name]; dup {
			return nil, fmt.Errorf("metrics: source %s: label %q given twice", src.Name, name)
		}
		labels[name] = v
	}
	get, first, err := getter(src.Stats)
	if err != nil {
		return nil, fmt.Errorf("metrics: source %s: %w", src.Name, err)
	}
	fields, err := fieldsOf(first.Type())
	if err != nil {
		return nil, fmt.Errorf("metrics: source %s: %w", src.Name, err)
	}
	s := &source{name: src.Name, labels: labels, get: get, typ: first.Type(), fields: fields}
	for _, f := range fields {
		var variable []string
		l := f.mapLabel
		if l != "" {
			for _, taken := labels[l]; taken; _, taken = labels[l] {
				l = "key_" + l // a map key label never hides a source label
			}
			variable = []string{l}
		}
		d := prometheus.NewDesc(s.fqName(f), f.help, variable, labels)
		if err := d.Err(); err != nil {
			return nil, fmt.Errorf("metrics: source %s: %w", src.Name, err)
		}
		s.descs = append(s.descs, d)
		s.mapLabels = append(s.mapLabels, l)
	}
	return s, nil
}

// key identifies a source: its name and labels, sorted by name, as in the expvar output:
// `channel{node="node1"}`.
func (s *source) key() string {
	if len(s.labels) == 0 {
		return s.name
	}
	var b strings.Builder
	b.WriteString(s.name)
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(s.labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", name, s.labels[name])
	}
	b.WriteByte('}')
	return b.String()
}

// getter turns a source's Stats into a function returning its struct, and checks that it
// returns one now.
func getter(src any) (func() (reflect.Value, bool), reflect.Value, error) {
	if src == nil {
		return nil, reflect.Value{}, errors.New("nil Stats")
	}
	v := reflect.ValueOf(src)
	var call reflect.Value
	switch {
	case v.Kind() == reflect.Func:
		call = v
	case v.MethodByName("Stats").IsValid():
		call = v.MethodByName("Stats")
	default:
		return nil, reflect.Value{}, fmt.Errorf("%T is neither a function nor has a Stats method", src)
	}
	if (v.Kind() == reflect.Func || v.Kind() == reflect.Pointer) && v.IsNil() {
		return nil, reflect.Value{}, fmt.Errorf("nil %T", src)
	}
	if ft := call.Type(); ft.NumIn() != 0 || ft.NumOut() != 1 {
		return nil, reflect.Value{}, fmt.Errorf("%T: need a function or Stats method with no arguments and one result", src)
	}
	first, ok := structOf(call.Call(nil)[0])
	if !ok {
		return nil, reflect.Value{}, fmt.Errorf("%T does not return a struct or a non-nil pointer to one", src)
	}
	get := func() (reflect.Value, bool) { return structOf(call.Call(nil)[0]) }
	return get, first, nil
}

// structOf dereferences pointers and interfaces down to a struct.
func structOf(v reflect.Value) (reflect.Value, bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return v, false
		}
		v = v.Elem()
	}
	return v, v.Kind() == reflect.Struct
}

// Describe sends the descriptors of every metric the collector can give.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.sources {
		for _, d := range s.descs {
			ch <- d
		}
	}
}

// Collect reads every source and sends its metrics. A source returning nil, or a struct of
// another type than it did for NewCollector, gives nothing this time; so do nil pointers
// on the way to a field and zero times.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.sources {
		s.visit(func(i int, key *string, f float64, _ any) {
			var lv []string
			if key != nil {
				lv = []string{*key}
			}
			m, err := prometheus.NewConstMetric(s.descs[i], s.fields[i].kind.valueType(), f, lv...)
			if err != nil {
				m = prometheus.NewInvalidMetric(s.descs[i], err)
			}
			ch <- m
		})
	}
}

// visit reads the source once and calls fn for each value: the field's index in s.fields,
// the map key for a map field (nil otherwise), the value as a float and as itself.
func (s *source) visit(fn func(i int, key *string, f float64, raw any)) {
	v, ok := s.get()
	if !ok || v.Type() != s.typ {
		return
	}
	for i, f := range s.fields {
		fv, err := v.FieldByIndexErr(f.index)
		if err != nil {
			continue // a nil pointer on the way
		}
		if f.mapLabel == "" {
			if x, raw, ok := scalarValue(fv); ok {
				fn(i, nil, x, raw)
			}
			continue
		}
		for _, e := range mapEntries(fv) {
			if x, raw, ok := scalarValue(e.v); ok {
				fn(i, &e.key, x, raw)
			}
		}
	}
}
