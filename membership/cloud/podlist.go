package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gotribes/tribes/internal/clip"
)

// Pod is a running pod of a pod list, as the Kubernetes provider uses it.
type Pod struct {
	Name    string
	UID     string    // metadata.uid; empty if the pod has none
	IP      string    // status.podIP, as listed
	Created time.Time // metadata.creationTimestamp
}

// PodList is what DecodePodList keeps of a Kubernetes PodList.
type PodList struct {
	// Running are the pods in phase Running with a name, a creation time and an address,
	// in list order.
	Running []Pod
	// Skipped counts the items that are not such pods: another phase, another kind,
	// fields missing or of the wrong type (Tomcat logs and skips them too).
	Skipped int
	// Invalid counts the skipped items that were malformed rather than simply not
	// running (Tomcat logs a warning for each).
	Invalid int
}

// DecodeLimits bound DecodePodList.
type DecodeLimits struct {
	MaxBytes int64 // the whole document (default DefaultMaxResponseBytes)
	MaxPods  int   // items in the list (default DefaultMaxPods)
}

// podJSON is the part of a pod the membership reads; pointers tell missing and null
// fields from empty ones.
type podJSON struct {
	Kind     *string `json:"kind"`
	Metadata *struct {
		Name              *string `json:"name"`
		UID               *string `json:"uid"`
		CreationTimestamp *string `json:"creationTimestamp"`
	} `json:"metadata"`
	Status *struct {
		Phase *string `json:"phase"`
		PodIP *string `json:"podIP"`
	} `json:"status"`
}

// DecodePodList reads a Kubernetes PodList (GET /api/v1/namespaces/NS/pods) from r. The
// document is read item by item: at most lim.MaxBytes bytes and lim.MaxPods items, else
// an error wrapping ErrTooLarge; a document that is not a JSON object with an "items"
// array fails with ErrBadResponse, whose text holds at most a short part of the
// document (control and format characters replaced). Items that are not usable running
// pods are counted, not returned (see PodList).
func DecodePodList(r io.Reader, lim DecodeLimits) (PodList, error) {
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = DefaultMaxResponseBytes
	}
	if lim.MaxPods <= 0 {
		lim.MaxPods = DefaultMaxPods
	}
	lr := &limitedReader{r: r, n: lim.MaxBytes}
	dec := json.NewDecoder(lr)
	var out PodList
	wrap := func(err error) error {
		if lr.over {
			return fmt.Errorf("%w: pod list larger than %d bytes", ErrTooLarge, lim.MaxBytes)
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: pod list: %s", ErrBadResponse, clipText(err.Error()))
	}
	if err := expectDelim(dec, '{'); err != nil {
		return out, wrap(err)
	}
	sawItems := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out, wrap(err)
		}
		key, _ := tok.(string)
		if key != "items" || sawItems {
			var skip struct{}
			if err := dec.Decode(&skip); err != nil {
				var ute *json.UnmarshalTypeError
				if !errors.As(err, &ute) {
					return out, wrap(err)
				}
			}
			continue
		}
		sawItems = true
		if err := expectDelim(dec, '['); err != nil {
			return out, wrap(fmt.Errorf("items: %w", err))
		}
		n := 0
		for dec.More() {
			n++
			if n > lim.MaxPods {
				return out, fmt.Errorf("%w: more than %d pods", ErrTooLarge, lim.MaxPods)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return out, wrap(err)
			}
			p, ok, invalid := podOf(raw)
			if !ok {
				out.Skipped++
				if invalid {
					out.Invalid++
				}
				continue
			}
			out.Running = append(out.Running, p)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return out, wrap(err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return out, wrap(err)
	}
	if !sawItems {
		return out, fmt.Errorf("%w: pod list has no items", ErrBadResponse)
	}
	return out, nil
}

// podOf returns the pod of one item, whether it is a running pod, and whether it was
// malformed (rather than of another kind or phase).
func podOf(raw json.RawMessage) (p Pod, ok, invalid bool) {
	var j podJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return p, false, true
	}
	if j.Kind != nil && *j.Kind != "Pod" {
		return p, false, false
	}
	m := j.Metadata
	if m == nil || m.Name == nil || m.CreationTimestamp == nil || j.Status == nil {
		return p, false, true
	}
	if j.Status.Phase == nil || *j.Status.Phase != "Running" {
		return p, false, false
	}
	if j.Status.PodIP == nil || *j.Status.PodIP == "" {
		return p, false, true
	}
	created, err := time.Parse(time.RFC3339Nano, *m.CreationTimestamp)
	if err != nil {
		return p, false, true
	}
	p = Pod{Name: *m.Name, IP: *j.Status.PodIP, Created: created}
	if m.UID != nil {
		p.UID = *m.UID
	}
	return p, true, false
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %s", want, tokenKind(tok))
	}
	return nil
}

// tokenKind names a JSON token for an error without quoting the document: a string or
// a number of the answer's may be as long as the answer.
func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return strconv.QuoteRune(rune(t))
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// maxClipped bounds clipText's result, in bytes besides its ellipsis; clipTail of them
// are the text's end.
const (
	maxClipped = 256
	clipTail   = 96
)

// clipText makes s, a text a source's answer may have written (a decoder's error that
// quotes the document, an HTTP status line, the HTTP client's error quoting either or a
// certificate's names), fit for an error: its control and format characters and
// invalid bytes replaced (clean), and, when longer than maxClipped bytes, its beginning
// and its end kept around an ellipsis (internal/clip), as an error's end may tell what was wrong (the
// address a certificate is not valid for: TestKubernetesErrorKeepsTheEndOfALongText).
func clipText(s string) string {
	return clean(clip.Ends(s, maxClipped-clipTail, clipTail)) // a rune cut in two becomes a '?'
}

// clean replaces the control characters, format characters (bidi embeddings,
// overrides and isolates, zero-width characters, the byte order mark), line and
// paragraph separators and invalid bytes of s, any of which can reorder, hide or split
// a log line's text.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// limitedReader is io.LimitReader that remembers it cut the input.
type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One more byte tells a document of exactly n bytes from a longer one.
		var b [1]byte
		if k, _ := l.r.Read(b[:]); k > 0 {
			l.over = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}
