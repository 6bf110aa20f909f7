package metrics

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// kind is a metric's Prometheus type.
type kind uint8

const (
	gauge   kind = iota // a value that goes up and down
	counter             // a value that only goes up (until its process restarts)
)

// String returns "gauge" or "counter", as in a # TYPE line.
func (k kind) String() string {
	if k == counter {
		return "counter"
	}
	return "gauge"
}

// point is one numeric value found in a source's struct.
type point struct {
	name  string   // metric name below the source: "messages_sent_total"
	kind  kind     // counter or gauge
	help  string   // help tag, or the Go name of the field
	path  []string // Go field names from the struct down (and a map key), for expvar
	label *Label   // the map key of a map entry
	prom  string   // the value in Prometheus text
	raw   any      // the value for expvar
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
		return t, fmt.Errorf("metrics: field %s: invalid metric name %q in tag", f.Name, t.name)
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
				return t, fmt.Errorf("metrics: field %s: invalid label name %q in tag", f.Name, t.label)
			}
		case p == "":
		default:
			return t, fmt.Errorf("metrics: field %s: unknown tag option %q", f.Name, p)
		}
	}
	return t, nil
}

// walker collects the points of one value.
type walker struct {
	points []point
	err    error
}

// walkStruct visits the exported fields of the struct v. prefix is the snake-case name so
// far ("" or "nested_"), path the Go names so far.
func (w *walker) walkStruct(v reflect.Value, prefix string, path []string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue // embedded unexported structs still promote their fields, as in encoding/json
		}
		tag, err := parseTag(f)
		if err != nil {
			if w.err == nil {
				w.err = err
			}
			continue
		}
		if tag.skip {
			continue
		}
		fv := v.Field(i)
		for fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface {
			if fv.IsNil() {
				break
			}
			fv = fv.Elem()
		}
		if fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface {
			continue // nil
		}
		name := tag.name
		if name == "" {
			name = snake(f.Name)
		}
		help := f.Tag.Get("help")
		if help == "" {
			help = t.String() + "." + f.Name
		}
		fpath := append(slices.Clip(path), f.Name)
		switch {
		case fv.Kind() == reflect.Struct && fv.Type() != timeType:
			if f.Anonymous && tag.name == "" {
				w.walkStruct(fv, prefix, path)
			} else {
				w.walkStruct(fv, prefix+name+"_", fpath)
			}
		case fv.Kind() == reflect.Map:
			w.walkMap(fv, prefix+name, fpath, help, tag)
		default:
			if p, ok := scalar(fv, prefix+name, tag.kind); ok {
				p.help, p.path = help, fpath
				w.points = append(w.points, p)
			}
		}
	}
}

// walkMap gives one point per key of a map whose values are numbers.
func (w *walker) walkMap(m reflect.Value, name string, path []string, help string, tag fieldTag) {
	kt := m.Type().Key()
	label := tag.label
	if label == "" {
		label = "key"
		if kt.Name() != "" && kt.PkgPath() != "" { // a named type, not string or int
			label = snake(kt.Name())
		}
	}
	type entry struct {
		key string
		v   reflect.Value
	}
	var entries []entry
	iter := m.MapRange()
	for iter.Next() {
		k := iter.Key()
		var ks string
		switch {
		case kt.Implements(stringerType):
			ks = k.Interface().(fmt.Stringer).String()
		case k.Kind() == reflect.String, k.CanInt(), k.CanUint():
			ks = fmt.Sprint(k.Interface())
		default:
			return // keys we cannot put in a label: leave the map out
		}
		entries = append(entries, entry{ks, iter.Value()})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.key, b.key) })
	for _, e := range entries {
		p, ok := scalar(e.v, name, tag.kind)
		if !ok {
			return
		}
		p.help, p.path = help, append(slices.Clip(path), e.key)
		p.label = &Label{Name: label, Value: e.key}
		w.points = append(w.points, p)
	}
}

// scalar converts a number, duration, time or boolean. override, if set, replaces the
// default type.
func scalar(v reflect.Value, name string, override *kind) (point, bool) {
	p := point{name: name, kind: gauge}
	switch {
	case v.Type() == durationType:
		d := time.Duration(v.Int())
		p.name += "_seconds"
		p.prom, p.raw = formatFloat(d.Seconds()), d
	case v.Type() == timeType:
		t := v.Interface().(time.Time)
		if t.IsZero() {
			return p, false
		}
		p.name += "_timestamp_seconds"
		p.prom, p.raw = formatFloat(float64(t.UnixNano())/1e9), t
	case v.Kind() == reflect.Bool:
		p.prom, p.raw = "0", v.Bool()
		if v.Bool() {
			p.prom = "1"
		}
	case v.CanInt():
		p.prom, p.raw = strconv.FormatInt(v.Int(), 10), v.Int()
	case v.CanUint() && v.Kind() != reflect.Uintptr:
		p.kind = counter
		p.prom, p.raw = strconv.FormatUint(v.Uint(), 10), v.Uint()
	case v.CanFloat():
		p.prom, p.raw = formatFloat(v.Float()), v.Float()
	default:
		return p, false
	}
	if override != nil {
		p.kind = *override
	}
	if p.kind == counter && !strings.HasSuffix(p.name, "_total") {
		p.name += "_total"
	}
	return p, true
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// snake turns a Go identifier into snake case: MessagesSent → messages_sent,
// TCPFailureDetector → tcp_failure_detector, P99us → p99us.
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
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

// validName reports whether s can be part of a metric name: [a-zA-Z_][a-zA-Z0-9_]*.
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
