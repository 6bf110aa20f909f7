package metrics

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// ErrExpvarTaken is returned by PublishExpvar for a name already published in expvar.
var ErrExpvarTaken = errors.New("metrics: expvar name already published")

// Snapshot reads every source and returns its fields by source key (the name followed by
// its labels, e.g. `channel{node="node1"}`): the numeric fields under their Go names,
// nested structs as maps, map fields keyed by the key's string form. A float that is NaN
// or infinite is the string "NaN", "+Inf" or "-Inf", as JSON has no such numbers. It is
// what Var publishes.
func (c *Collector) Snapshot() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, s := range c.sources {
		m := map[string]any{}
		s.visit(func(i int, key *string, _ float64, raw any) {
			path := s.fields[i].path
			if key != nil {
				path = append(path[:len(path):len(path)], *key)
			}
			if f, ok := raw.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				raw = strconv.FormatFloat(f, 'g', -1, 64) // "NaN", "+Inf", "-Inf"
			}
			put(m, path, raw)
		})
		out[s.key()] = m
	}
	return out
}

// put stores v at path in nested maps.
func put(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		sub, ok := m[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[k] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}

// Var returns an expvar.Var whose value is Snapshot as JSON, computed when it is read.
// Should Snapshot not encode (a time.Time field past year 9999), the value is
// {"error": "<why>"}, so that the expvar page stays JSON. Publish it under a name of your
// choice, or use PublishExpvar.
func (c *Collector) Var() expvar.Var { return snapshotVar{c} }

// snapshotVar is the expvar.Var of a Collector.
type snapshotVar struct{ c *Collector }

func (v snapshotVar) String() string {
	b, err := json.Marshal(v.c.Snapshot())
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": "metrics: " + err.Error()})
	}
	return string(b)
}

// publishMu makes PublishExpvar's check and expvar.Publish one step.
var publishMu sync.Mutex

// PublishExpvar publishes Var under name in the process-wide expvar registry (served by
// expvar.Handler and on /debug/vars of http.DefaultServeMux). expvar names cannot be
// reused or removed, so a name already taken is an error wrapping ErrExpvarTaken, also
// for concurrent calls with one name (one of them succeeds) and for a name published by
// other code meanwhile.
func (c *Collector) PublishExpvar(name string) (err error) {
	publishMu.Lock()
	defer publishMu.Unlock()
	if expvar.Get(name) != nil {
		return fmt.Errorf("%w: %q", ErrExpvarTaken, name)
	}
	defer func() {
		if r := recover(); r != nil {
			if expvar.Get(name) == nil {
				panic(r) // not expvar's "Reuse of exported var name"
			}
			err = fmt.Errorf("%w: %q", ErrExpvarTaken, name)
		}
	}()
	expvar.Publish(name, c.Var())
	return nil
}
