package metrics_test

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// exposition is a parsed Prometheus text exposition (format 0.0.4).
type exposition struct {
	types  map[string]string  // metric name → counter, gauge, ...
	help   map[string]string  // metric name → help text (unescaped)
	series map[string]float64 // `name{a="x",b="y"}` (labels as written) → value
	order  []string           // series in the order they appeared
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseExposition checks text line by line against the text format and returns what it
// holds. It is strict where the format is: a family's lines are contiguous, # TYPE comes
// before its samples and at most once, a series appears once, label values are quoted
// with only \\, \" and \n escapes, values are floats.
func parseExposition(text string) (*exposition, error) {
	e := &exposition{types: map[string]string{}, help: map[string]string{}, series: map[string]float64{}}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end with a newline")
	}
	done := map[string]bool{} // families whose lines are over
	current := ""
	enter := func(name string, line int) error {
		if name == current {
			return nil
		}
		if done[name] {
			return fmt.Errorf("line %d: lines of %s are not contiguous", line, name)
		}
		if current != "" {
			done[current] = true
		}
		current = name
		return nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "# HELP "):
			rest := strings.TrimPrefix(line, "# HELP ")
			name, help, _ := strings.Cut(rest, " ")
			if !metricNameRE.MatchString(name) {
				return nil, fmt.Errorf("line %d: bad metric name in HELP: %q", n, line)
			}
			if _, dup := e.help[name]; dup {
				return nil, fmt.Errorf("line %d: second HELP for %s", n, name)
			}
			h, err := unescape(help, false)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
			if err := enter(name, n); err != nil {
				return nil, err
			}
			e.help[name] = h
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(strings.TrimPrefix(line, "# TYPE "))
			if len(f) != 2 || !metricNameRE.MatchString(f[0]) {
				return nil, fmt.Errorf("line %d: bad TYPE line %q", n, line)
			}
			switch f[1] {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, fmt.Errorf("line %d: unknown type %q", n, f[1])
			}
			if _, dup := e.types[f[0]]; dup {
				return nil, fmt.Errorf("line %d: second TYPE for %s", n, f[0])
			}
			if err := enter(f[0], n); err != nil {
				return nil, err
			}
			for s := range e.series {
				if seriesName(s) == f[0] {
					return nil, fmt.Errorf("line %d: TYPE of %s after its samples", n, f[0])
				}
			}
			e.types[f[0]] = f[1]
		case strings.HasPrefix(line, "#"):
			continue // a comment
		default:
			name, labels, value, err := parseSample(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v: %q", n, err, line)
			}
			if err := enter(name, n); err != nil {
				return nil, err
			}
			key := name + labels
			if _, dup := e.series[key]; dup {
				return nil, fmt.Errorf("line %d: series %s appears twice", n, key)
			}
			e.series[key] = value
			e.order = append(e.order, key)
		}
	}
	return e, nil
}

func seriesName(s string) string {
	name, _, _ := strings.Cut(s, "{")
	return name
}

// parseSample parses `name{a="x",...} value [timestamp]`.
func parseSample(line string) (name, labels string, value float64, err error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", "", 0, fmt.Errorf("no value")
	}
	name, rest := line[:i], line[i:]
	if !metricNameRE.MatchString(name) {
		return "", "", 0, fmt.Errorf("bad metric name %q", name)
	}
	if strings.HasPrefix(rest, "{") {
		j, err := scanLabels(rest)
		if err != nil {
			return "", "", 0, err
		}
		labels, rest = rest[:j], rest[j:]
	}
	if !strings.HasPrefix(rest, " ") {
		return "", "", 0, fmt.Errorf("no space before the value")
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return "", "", 0, fmt.Errorf("want a value and an optional timestamp")
	}
	switch f[0] {
	case "NaN":
		value = math.NaN()
	case "+Inf":
		value = math.Inf(1)
	case "-Inf":
		value = math.Inf(-1)
	default:
		if value, err = strconv.ParseFloat(f[0], 64); err != nil {
			return "", "", 0, fmt.Errorf("bad value %q", f[0])
		}
	}
	if len(f) == 2 {
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			return "", "", 0, fmt.Errorf("bad timestamp %q", f[1])
		}
	}
	return name, labels, value, nil
}

// scanLabels checks a {name="value",...} block at the start of s and returns its length.
func scanLabels(s string) (int, error) {
	i := 1
	seen := map[string]bool{}
	for {
		if i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		j := strings.IndexByte(s[i:], '=')
		if j < 0 {
			return 0, fmt.Errorf("label without =")
		}
		ln := s[i : i+j]
		if !labelNameRE.MatchString(ln) || strings.HasPrefix(ln, "__") {
			return 0, fmt.Errorf("bad label name %q", ln)
		}
		if seen[ln] {
			return 0, fmt.Errorf("label %q twice", ln)
		}
		seen[ln] = true
		i += j + 1
		if i >= len(s) || s[i] != '"' {
			return 0, fmt.Errorf("label value not quoted")
		}
		i++
		for {
			if i >= len(s) {
				return 0, fmt.Errorf("unterminated label value")
			}
			c := s[i]
			if c == '\\' {
				if i+1 >= len(s) || !strings.ContainsRune(`\"n`, rune(s[i+1])) {
					return 0, fmt.Errorf("bad escape in label value")
				}
				i += 2
				continue
			}
			if c == '\n' {
				return 0, fmt.Errorf("raw newline in label value")
			}
			i++
			if c == '"' {
				break
			}
		}
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		return 0, fmt.Errorf("expected , or } after a label")
	}
}

// unescape undoes the HELP escapes (\\ and \n), and \" too for label values.
func unescape(s string, quotes bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case '"':
			if !quotes {
				b.WriteString(`\"`)
				continue
			}
			b.WriteByte('"')
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
