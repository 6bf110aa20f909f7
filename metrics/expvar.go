package metrics

import (
	"expvar"
	"fmt"
)

// Snapshot reads every source and returns its fields by source key (the name followed by
// its labels, e.g. `channel{node="node1"}`): the numeric fields under their Go names,
// nested structs as maps, map fields keyed by the key's string form. It is what Var
// publishes.
func (c *Collector) Snapshot() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, s := range c.sources {
		m := map[string]any{}
		s.visit(func(i int, key *string, _ float64, raw any) {
			path := s.fields[i].path
			if key != nil {
				path = append(path[:len(path):len(path)], *key)
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

// Var returns an expvar.Var whose value is Snapshot, computed when it is read. Publish
// it under a name of your choice, or use PublishExpvar.
func (c *Collector) Var() expvar.Var {
	return expvar.Func(func() any { return c.Snapshot() })
}

// PublishExpvar publishes Var under name in the process-wide expvar registry (served by
// expvar.Handler and on /debug/vars of http.DefaultServeMux). expvar names cannot be
// reused or removed, so a name already taken is an error.
func (c *Collector) PublishExpvar(name string) error {
	if expvar.Get(name) != nil {
		return fmt.Errorf("metrics: expvar %q is already published", name)
	}
	expvar.Publish(name, c.Var())
	return nil
}
