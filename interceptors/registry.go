package interceptors

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// Factory builds an interceptor from the properties of a spec such as
// "gzip(compressionMinSize=100)". It reads them through p; Build reports properties the
// factory did not read as unknown. An interceptor that logs takes p.Logger().
type Factory func(p *Props) (channel.Interceptor, error)

// Props are the name=value properties of one interceptor in a Build spec.
type Props struct {
	m    map[string]string
	used map[string]bool
	err  error
	log  *slog.Logger
}

// Logger returns the logger given to Build (never nil).
func (p *Props) Logger() *slog.Logger { return p.log }

func (p *Props) get(name string) (string, bool) {
	v, ok := p.m[name]
	if ok {
		p.used[name] = true
	}
	return v, ok
}

func (p *Props) fail(name, v string, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("property %s=%q: %w", name, v, err)
	}
}

// String returns the property or def.
func (p *Props) String(name, def string) string {
	if v, ok := p.get(name); ok {
		return v
	}
	return def
}

// Int returns the property as an integer, or def. The number is decimal, as Tomcat's
// Integer.parseInt reads it ("010" is ten), or hexadecimal after 0x ("optionFlag=0x0100",
// which Tomcat does not accept).
func (p *Props) Int(name string, def int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := parseInt(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return int(n)
}

// parseInt reads an optionally signed decimal number, or a hexadecimal one after 0x.
func parseInt(v string) (int64, error) {
	sign, digits := "", v
	if digits != "" && (digits[0] == '+' || digits[0] == '-') {
		sign, digits = digits[:1], digits[1:]
	}
	if len(digits) > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') &&
		digits[2] != '+' && digits[2] != '-' {
		return strconv.ParseInt(sign+digits[2:], 16, 64)
	}
	return strconv.ParseInt(v, 10, 64)
}

// Bool returns the property as a boolean, or def.
func (p *Props) Bool(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return b
}

// Duration returns the property as a duration ("500ms", "3s"; a bare number is
// milliseconds, as in Tomcat's configuration), or def.
func (p *Props) Duration(name string, def time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return d
}

// Seconds returns the property as a duration, or def. A bare number is seconds, as Tomcat
// gives some of its timeouts (removeSuspectsTimeout); "90s" or "2m" work too.
func (p *Props) Seconds(name string, def time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return d
}

// Hex returns the property decoded from hex, or def.
func (p *Props) Hex(name string, def []byte) []byte {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		p.fail(name, v, err)
	}
	return b
}

// Err reports the first malformed property or an unknown one.
func (p *Props) Err() error {
	if p.err != nil {
		return p.err
	}
	for k := range p.m {
		if !p.used[k] {
			return fmt.Errorf("unknown property %q", k)
		}
	}
	return nil
}

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
// to the application), e.g. "order,dispatch,gzip(compressionMinSize=100),ping,tcpfailure(connectTimeout=500ms)".
// Properties are name=value pairs separated by ';' inside parentheses; a property given
// twice is an error (as an XML attribute repeated in Tomcat's configuration). The
// interceptors that log get log (nil discards).
//
// Orders known to be wrong (docs/interceptors.md lists them with the reasons) are logged at Warn, or refused with an error
// wrapping channel.ErrInvalidConfig where the stack cannot work.
func Build(spec string, log *slog.Logger) ([]channel.Interceptor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var out []channel.Interceptor
	var names []string
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
				k = strings.TrimSpace(k)
				if _, dup := props[k]; dup {
					return nil, fmt.Errorf("%w: interceptor %s: property %q given twice", channel.ErrInvalidConfig, name, k)
				}
				props[k] = strings.TrimSpace(v)
			}
		}
		regMu.RLock()
		f := registry[strings.ToLower(name)]
		regMu.RUnlock()
		if f == nil {
			return nil, fmt.Errorf("%w: unknown interceptor %q (known: %s)", channel.ErrInvalidConfig, name, strings.Join(Names(), ", "))
		}
		p := &Props{m: props, used: map[string]bool{}, log: log}
		ic, err := f(p)
		if err == nil {
			err = p.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: interceptor %s: %w", channel.ErrInvalidConfig, name, err)
		}
		out = append(out, ic)
		names = append(names, strings.ToLower(name))
	}
	if err := checkOrder(names, log); err != nil {
		return nil, err
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
