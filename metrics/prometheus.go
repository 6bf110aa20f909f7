package metrics

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
)

// ContentType is the media type of the Prometheus text exposition format written by
// WritePrometheus and Handler.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WritePrometheus calls every source and writes their metrics to w in the Prometheus text
// exposition format (version 0.0.4): for each metric name, sorted, a # HELP and a # TYPE
// line and one sample line per source (and map key).
func (r *Registry) WritePrometheus(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, f := range r.families() {
		if len(f.samples) == 0 {
			continue
		}
		bw.WriteString("# HELP " + f.name + " " + helpEscaper.Replace(f.help) + "\n")
		bw.WriteString("# TYPE " + f.name + " " + f.kind.String() + "\n")
		for _, s := range f.samples {
			bw.WriteString(f.name)
			bw.WriteString(formatLabels(s.labels))
			bw.WriteByte(' ')
			bw.WriteString(s.value)
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// Handler serves the registry's metrics in the Prometheus text format, for GET and HEAD.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		if err := r.WritePrometheus(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		w.Header().Set("Cache-Control", "no-store")
		if req.Method == http.MethodGet {
			_, _ = w.Write(buf.Bytes())
		}
	})
}
