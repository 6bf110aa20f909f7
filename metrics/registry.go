package metrics

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Namespace is the first part of every metric name.
const Namespace = "tribes"

// ErrDuplicate is returned when a source with the same name and labels is registered twice.
var ErrDuplicate = errors.New("metrics: source already registered")

// Label is a name and value attached to every metric of a source, such as node="node1".
type Label struct {
	Name, Value string
}

// L is shorthand for Label{Name: name, Value: value}.
func L(name, value string) Label { return Label{Name: name, Value: value} }

// Registry holds named sources of statistics and renders them for Prometheus and expvar.
// The zero value is not usable; call NewRegistry. All methods are safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	sources []*source // in registration order
}

type source struct {
	name   string
	labels []Label // sorted by name
	get    func() reflect.Value
}

// key identifies a source: its name and labels, as in the expvar output.
func (s *source) key() string {
	if len(s.labels) == 0 {
		return s.name
	}
	return s.name + formatLabels(s.labels)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds a source of metrics named name, which becomes the second part of each
// metric name (tribes_<name>_<field>): lower case letters, digits and underscores.
//
// src is one of:
//   - a function without arguments returning a struct or a pointer to one (func() T, or
//     func() any returning the same type every time);
//   - a value with a method Stats() returning such a struct, such as *channel.Channel or
//     *nio.Transport.
//
// src is called once now, to check what it returns, and then at every scrape, from the
// scraping goroutine: it must be safe for concurrent use. labels are attached to every
// metric of the source. A source with the same name and labels as a registered one is
// refused with ErrDuplicate.
func (r *Registry) Register(name string, src any, labels ...Label) error {
	s, err := newSource(name, src, labels)
	if err != nil {
		return err
	}
	return r.add(s)
}

// Unregister removes the source with this name and labels, and reports whether there was one.
func (r *Registry) Unregister(name string, labels ...Label) bool {
	key := (&source{name: name, labels: sortedLabels(labels)}).key()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.sources {
		if s.key() == key {
			r.sources = slices.Delete(r.sources, i, i+1)
			return true
		}
	}
	return false
}

// Sources returns the keys of the registered sources in registration order: the source
// name followed by its labels, e.g. `channel{node="node1"}`.
func (r *Registry) Sources() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.sources))
	for i, s := range r.sources {
		out[i] = s.key()
	}
	return out
}

func newSource(name string, src any, labels []Label) (*source, error) {
	if !validName(name) || strings.ToLower(name) != name {
		return nil, fmt.Errorf("metrics: invalid source name %q: use lower case letters, digits and _", name)
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if !validLabelName(l.Name) {
			return nil, fmt.Errorf("metrics: source %s: invalid label name %q", name, l.Name)
		}
		if seen[l.Name] {
			return nil, fmt.Errorf("metrics: source %s: label %q given twice", name, l.Name)
		}
		seen[l.Name] = true
	}
	get, first, err := getter(src)
	if err != nil {
		return nil, fmt.Errorf("metrics: source %s: %w", name, err)
	}
	s := &source{name: name, labels: sortedLabels(labels), get: get}
	var w walker // checks the struct tags
	w.walkStruct(first, "", nil)
	if w.err != nil {
		return nil, fmt.Errorf("metrics: source %s: %w", name, w.err)
	}
	return s, nil
}

func sortedLabels(ls []Label) []Label {
	out := slices.Clone(ls)
	slices.SortFunc(out, func(a, b Label) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// getter turns a source into a function returning its struct, and checks that it
// returns one now.
func getter(src any) (func() reflect.Value, reflect.Value, error) {
	if src == nil {
		return nil, reflect.Value{}, errors.New("nil source")
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
	get := func() reflect.Value {
		if v, ok := structOf(call.Call(nil)[0]); ok {
			return v
		}
		return reflect.ValueOf(struct{}{}) // nil this time: no metrics
	}
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

// add registers every source or none.
func (r *Registry) add(ss ...*source) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := map[string]bool{}
	for _, s := range r.sources {
		keys[s.key()] = true
	}
	for _, s := range ss {
		if keys[s.key()] {
			return fmt.Errorf("%w: %s", ErrDuplicate, s.key())
		}
		keys[s.key()] = true
	}
	r.sources = append(r.sources, ss...)
	return nil
}

// family is one metric name with its samples, as gathered for a scrape.
type family struct {
	name, help string
	kind       kind
	samples    []sample
}

type sample struct {
	labels []Label
	value  string
}

// collected is one source's points.
type collected struct {
	src    *source
	points []point
}

func (r *Registry) collect() []collected {
	r.mu.Lock()
	srcs := slices.Clone(r.sources)
	r.mu.Unlock()
	out := make([]collected, 0, len(srcs))
	for _, s := range srcs {
		var w walker
		w.walkStruct(s.get(), "", nil)
		out = append(out, collected{s, w.points})
	}
	return out
}

// families gathers every source into metric families sorted by name. A family's type
// and help come from the first source that has it; samples of a later source whose type
// differs are left out, and so are repeated label sets.
func (r *Registry) families() []*family {
	byName := map[string]*family{}
	seen := map[string]bool{}
	for _, c := range r.collect() {
		for _, p := range c.points {
			name := Namespace + "_" + c.src.name + "_" + p.name
			f := byName[name]
			if f == nil {
				f = &family{name: name, help: p.help, kind: p.kind}
				byName[name] = f
			}
			if f.kind != p.kind {
				continue
			}
			labels := c.src.labels
			if p.label != nil {
				l := *p.label
				for slices.ContainsFunc(labels, func(x Label) bool { return x.Name == l.Name }) {
					l.Name = "key_" + l.Name
				}
				labels = append(slices.Clip(labels), l)
			}
			id := name + formatLabels(labels)
			if seen[id] {
				continue
			}
			seen[id] = true
			f.samples = append(f.samples, sample{labels: labels, value: p.prom})
		}
	}
	out := make([]*family, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *family) int { return cmp.Compare(a.name, b.name) })
	return out
}

// formatLabels returns {a="x",b="y"} with the values escaped for Prometheus text, or ""
// for no labels.
func formatLabels(ls []Label) string {
	if len(ls) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(l.Value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)
