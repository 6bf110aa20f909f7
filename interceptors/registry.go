package interceptors

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// Factory builds an interceptor from string properties (from a spec such as
// "gzip(minSize=100)"). Unknown or malformed properties are an error.
type Factory func(props map[string]string) (channel.Interceptor, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes an interceptor available to Build under name (lower case, e.g. "gzip").
// The interceptors of this package register themselves; applications may add their own.
// Registering a name twice panics: it is a programming error.
func Register(name string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	name = strings.ToLower(name)
	if _, dup := registry[name]; dup {
		panic("interceptors: " + name + " registered twice")
	}
	registry[name] = f
}

// Names lists the registered interceptor names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Build parses a comma-separated stack spec, in Tribes' configuration order (first = closest
// to the application), e.g. "dispatch,tcpfailure(connectTimeout=500ms),gzip(minSize=100),order".
// Properties are name=value pairs separated by ';' inside parentheses.
func Build(spec string) ([]channel.Interceptor, error) {
	var out []channel.Interceptor
	for _, item := range splitTop(spec) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, props := item, map[string]string{}
		if i := strings.IndexByte(item, '('); i >= 0 {
			if !strings.HasSuffix(item, ")") {
				return nil, fmt.Errorf("%w: interceptor spec %q: missing ')'", channel.ErrInvalidConfig, item)
			}
			name = strings.TrimSpace(item[:i])
			for _, kv := range strings.Split(item[i+1:len(item)-1], ";") {
				if strings.TrimSpace(kv) == "" {
					continue
				}
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("%w: interceptor %s: property %q is not name=value", channel.ErrInvalidConfig, name, kv)
				}
				props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		regMu.RLock()
		f := registry[strings.ToLower(name)]
		regMu.RUnlock()
		if f == nil {
			return nil, fmt.Errorf("%w: unknown interceptor %q (known: %s)", channel.ErrInvalidConfig, name, strings.Join(Names(), ", "))
		}
		ic, err := f(props)
		if err != nil {
			return nil, fmt.Errorf("%w: interceptor %s: %w", channel.ErrInvalidConfig, name, err)
		}
		out = append(out, ic)
	}
	return out, nil
}

func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
