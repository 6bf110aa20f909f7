package metrics

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
)

// kind is a metric's Prometheus type.
type kind uint8

const (
	gauge   kind = iota // a value that goes up and down
	counter             // a value that only goes up (until its process restarts)
)

func (k kind) valueType() prometheus.ValueType {
	if k == counter {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

// field is one metric of a source: a numeric field of its struct type, or a map of numbers
// (one series per key).
type field struct {
	index    []int    // field indexes from the source's struct down (reflect.Value.FieldByIndexErr)
	path     []string // Go field names from the struct down, for expvar
	name     string   // metric name below the source: "messages_sent_total"
	kind     kind
	help     string // help tag, or the Go name of the field
	mapLabel string // for a map: the label holding the key; "" for a single number
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

// fieldTag is a parsed `metrics:"name,kind,label=x"` tag.
type fieldTag struct {
	skip  bool
	name  string
	kind  *kind
	label string
}

func parseTag(f reflect.StructField) (fieldTag, error) {
	var t fieldTag
	s, ok := f.Tag.Lookup("metrics")
	if !ok {
		return t, nil
	}
	if s == "-" {
		t.skip = true
		return t, nil
	}
	parts := strings.Split(s, ",")
	t.name = parts[0]
	if t.name != "" && !validName(t.name) {
		return t, fmt.Errorf("field %s: invalid metric name %q in tag", f.Name, t.name)
	}
	for _, p := range parts[1:] {
		switch {
		case p == "counter":
			k := counter
			t.kind = &k
		case p == "gauge":
			k := gauge
			t.kind = &k
		case strings.HasPrefix(p, "label="):
			t.label = strings.TrimPrefix(p, "label=")
			if !validLabelName(t.label) {
				return t, fmt.Errorf("field %s: invalid label name %q in tag", f.Name, t.label)
			}
		case p == "":
		default:
			return t, fmt.Errorf("field %s: unknown tag option %q", f.Name, p)
		}
	}
	return t, nil
}

// fieldsOf returns the metrics of the struct type t, in field order.
func fieldsOf(t reflect.Type) ([]field, error) {
	var p planner
	p.walkStruct(t, nil, "", nil, []reflect.Type{t})
	if p.err != nil {
		return nil, p.err
	}
	names := map[string]string{}
	for _, f := range p.fields {
		goName := strings.Join(f.path, ".")
		if other, dup := names[f.name]; dup {
			return nil, fmt.Errorf("fields %s and %s both give the metric %s", other, goName, f.name)
		}
		names[f.name] = goName
	}
	return p.fields, nil
}

// planner collects the fields of a struct type.
type planner struct {
	fields []field
	err    error
}

// walkStruct visits the exported fields of the struct type t. index and path lead to t
// from the source's struct, prefix is the snake-case name so far ("" or "nested_"), and
// outer holds the struct types being visited, to stop at recursive types.
func (p *planner) walkStruct(t reflect.Type, index []int, prefix string, path []string, outer []reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue // embedded unexported structs still promote their fields, as in encoding/json
		}
		tag, err := parseTag(f)
		if err != nil {
			if p.err == nil {
				p.err = err
			}
			continue
		}
		if tag.skip {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		name := tag.name
		if name == "" {
			name = snake(f.Name)
		}
		help := f.Tag.Get("help")
		if help == "" {
			help = t.String() + "." + f.Name
		}
		idx := append(slices.Clip(index), i)
		fpath := append(slices.Clip(path), f.Name)
		switch {
		case ft.Kind() == reflect.Struct && ft != timeType:
			if slices.Contains(outer, ft) {
				continue
			}
			if f.Anonymous && tag.name == "" {
				p.walkStruct(ft, idx, prefix, path, append(slices.Clip(outer), ft))
			} else {
				p.walkStruct(ft, idx, prefix+name+"_", fpath, append(slices.Clip(outer), ft))
			}
		case f.Type.Kind() == reflect.Map:
			p.addMap(f.Type, field{index: idx, path: fpath, name: prefix + name, help: help}, tag)
		default:
			k, suffix, ok := scalarType(ft)
			if !ok {
				continue // strings, slices, interfaces, ...
			}
			p.fields = append(p.fields, withKind(field{index: idx, path: fpath, name: prefix + name + suffix, help: help}, k, tag.kind))
		}
	}
}

// addMap adds a map field whose keys can be label values and whose values are numbers.
func (p *planner) addMap(mt reflect.Type, f field, tag fieldTag) {
	kt := mt.Key()
	switch {
	case kt.Implements(stringerType), kt.Kind() == reflect.String, isInt(kt), isUint(kt):
	default:
		return // keys we cannot put in a label
	}
	k, suffix, ok := scalarType(mt.Elem())
	if !ok {
		return
	}
	f.mapLabel = tag.label
	if f.mapLabel == "" {
		f.mapLabel = "key"
		if kt.Name() != "" && kt.PkgPath() != "" { // a named type, not string or int
			f.mapLabel = snake(kt.Name())
		}
	}
	f.name += suffix
	p.fields = append(p.fields, withKind(f, k, tag.kind))
}

// withKind sets f's kind, the tag's if it has one, and gives counters the suffix _total.
func withKind(f field, k kind, override *kind) field {
	if override != nil {
		k = *override
	}
	f.kind = k
	if k == counter && !strings.HasSuffix(f.name, "_total") {
		f.name += "_total"
	}
	return f
}

// scalarType reports whether t is a type of number this package turns into a metric, its
// default kind and the suffix it adds to the name.
func scalarType(t reflect.Type) (k kind, suffix string, ok bool) {
	switch {
	case t == durationType:
		return gauge, "_seconds", true
	case t == timeType:
		return gauge, "_timestamp_seconds", true
	case t.Kind() == reflect.Bool, isInt(t), t.Kind() == reflect.Float32, t.Kind() == reflect.Float64:
		return gauge, "", true
	case isUint(t):
		return counter, "", true
	}
	return gauge, "", false
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

func isUint(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// scalarValue returns the value of v (of a type scalarType accepts, or a pointer to one)
// as a float for Prometheus and as itself for expvar. ok is false for a nil pointer and a
// zero time.Time.
func scalarValue(v reflect.Value) (f float64, raw any, ok bool) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0, nil, false
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		d := time.Duration(v.Int())
		return d.Seconds(), d, true
	case v.Type() == timeType:
		t := v.Interface().(time.Time)
		return float64(t.UnixNano()) / 1e9, t, !t.IsZero()
	case v.Kind() == reflect.Bool:
		if v.Bool() {
			return 1, true, true
		}
		return 0, false, true
	case v.CanInt():
		return float64(v.Int()), v.Int(), true
	case v.CanUint():
		return float64(v.Uint()), v.Uint(), true
	case v.CanFloat():
		return v.Float(), v.Float(), true
	}
	return 0, nil, false
}

// entry is one key of a map field with its value.
type entry struct {
	key string
	v   reflect.Value
}

// mapEntries returns the entries of the map m sorted by key, the key in its label form:
// String() for a fmt.Stringer, else its fmt.Sprint form.
func mapEntries(m reflect.Value) []entry {
	out := make([]entry, 0, m.Len())
	for iter := m.MapRange(); iter.Next(); {
		k := iter.Key()
		var ks string
		if s, ok := k.Interface().(fmt.Stringer); ok {
			ks = s.String()
		} else {
			ks = fmt.Sprint(k.Interface())
		}
		out = append(out, entry{ks, iter.Value()})
	}
	slices.SortFunc(out, func(a, b entry) int { return cmp.Compare(a.key, b.key) })
	return out
}

// snake turns a Go identifier into snake case: MessagesSent → messages_sent,
// TCPFailureDetector → tcp_failure_detector, P99us → p99us, and a plural acronym is one
// word: RememberedIVs → remembered_ivs, IDsSeen → ids_seen.
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				// A capital run ending in a lone "s" (IVs, URLs) is a plural acronym, not
				// an acronym followed by a word "s".
				plural := i+1 < len(rs) && rs[i+1] == 's' && (i+2 == len(rs) || !unicode.IsLower(rs[i+2]))
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower && !plural) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// validName reports whether s can be part of a metric name in Prometheus' classic
// character set: [a-zA-Z_][a-zA-Z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validLabelName is validName without the reserved "__" prefix.
func validLabelName(s string) bool { return validName(s) && !strings.HasPrefix(s, "__") }
