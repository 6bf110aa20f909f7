package metrics

import (
	"expvar"
	"fmt"
)

// Snapshot calls every source and returns its fields by source key (the name followed by
// its labels, e.g. `channel{node="node1"}`): the numeric fields under their Go names,
// nested structs as maps, map fields keyed by the key's string form. It is what Var
// publishes.
func (r *Registry) Snapshot() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, c := range r.collect() {
		m := map[string]any{}
		for _, p := range c.points {
			put(m, p.path, p.raw)
		}
		out[c.src.key()] = m
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

// Var returns an expvar.Var whose value is Snapshot, computed when it is read. Publish
// it under a name of your choice, or use PublishExpvar.
func (r *Registry) Var() expvar.Var {
	return expvar.Func(func() any { return r.Snapshot() })
}

// PublishExpvar publishes Var under name in the process-wide expvar registry (served by
// expvar.Handler and on /debug/vars of http.DefaultServeMux). expvar names cannot be
// reused or removed, so a name already taken is an error.
func (r *Registry) PublishExpvar(name string) error {
	if expvar.Get(name) != nil {
		return fmt.Errorf("metrics: expvar %q is already published", name)
	}
	expvar.Publish(name, r.Var())
	return nil
}
