package cloud

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestDecodeRecordedPodList(t *testing.T) {
	pl, err := DecodePodList(bytes.NewReader(recorded(t)), DecodeLimits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Pod{
		{Name: "tomcat-in-the-cloud-5bc6dc7cf8-ndpdm", UID: pod1UID, IP: pod1IP, Created: time.Date(2018, 10, 10, 13, 5, 29, 0, time.UTC)},
		{Name: "tomcat-in-the-cloud-5bc6dc7cf8-w454k", UID: pod2UID, IP: pod2IP, Created: time.Date(2018, 10, 10, 13, 4, 51, 0, time.UTC)},
	}
	if len(pl.Running) != len(want) || pl.Skipped != 0 {
		t.Fatalf("got %+v", pl)
	}
	for i, p := range pl.Running {
		if p.Name != want[i].Name || p.UID != want[i].UID || p.IP != want[i].IP || !p.Created.Equal(want[i].Created) {
			t.Errorf("pod %d = %+v, want %+v", i, p, want[i])
		}
	}
	// Tomcat's id of the first pod, as its TestKubernetesJson lists it.
	if id := PodUniqueID(pl.Running[0]); id != md5Of(pod1UID) {
		t.Errorf("id %x", id)
	}
	if id := PodUniqueID(Pod{IP: "10.0.0.1"}); id != md5Of("10.0.0.1") {
		t.Errorf("id without uid %x, want the digest of the address", id)
	}
}

// TestDecodePodListSkipsAsTomcat: items Tomcat skips are skipped (counted), the others kept.
func TestDecodePodListSkipsAsTomcat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(p map[string]any)
		invalid bool
	}{
		{"pending", func(p map[string]any) { p["status"].(map[string]any)["phase"] = "Pending" }, false},
		{"another kind", func(p map[string]any) { p["kind"] = "Service" }, false},
		{"no podIP", func(p map[string]any) { delete(p["status"].(map[string]any), "podIP") }, true},
		{"null podIP", func(p map[string]any) { p["status"].(map[string]any)["podIP"] = nil }, true},
		{"no metadata", func(p map[string]any) { delete(p, "metadata") }, true},
		{"metadata not an object", func(p map[string]any) { p["metadata"] = []any{1} }, true},
		{"no name", func(p map[string]any) { delete(p["metadata"].(map[string]any), "name") }, true},
		{"no creationTimestamp", func(p map[string]any) { delete(p["metadata"].(map[string]any), "creationTimestamp") }, true},
		{"bad creationTimestamp", func(p map[string]any) { p["metadata"].(map[string]any)["creationTimestamp"] = "yesterday" }, true},
		{"no status", func(p map[string]any) { delete(p, "status") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := editPods(t, recorded(t), func(items []any) []any {
				tc.edit(items[0].(map[string]any))
				return items
			})
			pl, err := DecodePodList(bytes.NewReader(doc), DecodeLimits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pl.Running) != 1 || pl.Running[0].UID != pod2UID || pl.Skipped != 1 {
				t.Fatalf("got %+v, want the second pod only", pl)
			}
			if (pl.Invalid == 1) != tc.invalid {
				t.Errorf("invalid = %d, want %v", pl.Invalid, tc.invalid)
			}
		})
	}
	t.Run("item not an object", func(t *testing.T) {
		doc := editPods(t, recorded(t), func(items []any) []any { return append(items, 7, "x", nil) })
		pl, err := DecodePodList(bytes.NewReader(doc), DecodeLimits{})
		if err != nil || len(pl.Running) != 2 || pl.Invalid != 3 {
			t.Fatalf("got %+v, %v", pl, err)
		}
	})
	t.Run("no uid", func(t *testing.T) {
		doc := editPods(t, recorded(t), func(items []any) []any {
			delete(items[0].(map[string]any)["metadata"].(map[string]any), "uid")
			return items
		})
		pl, err := DecodePodList(bytes.NewReader(doc), DecodeLimits{})
		if err != nil || len(pl.Running) != 2 || pl.Running[0].UID != "" {
			t.Fatalf("got %+v, %v", pl, err)
		}
	})
}

func TestDecodePodListRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		lim       DecodeLimits
		want      error
	}{
		{"empty", "", DecodeLimits{}, ErrBadResponse},
		{"array", "[]", DecodeLimits{}, ErrBadResponse},
		{"no items", `{"kind":"PodList"}`, DecodeLimits{}, ErrBadResponse},
		{"items not an array", `{"items":{}}`, DecodeLimits{}, ErrBadResponse},
		{"truncated", `{"items":[{"metadata":`, DecodeLimits{}, ErrBadResponse},
		{"status answer", `{"kind":"Status","apiVersion":"v1","status":"Failure","code":403}`, DecodeLimits{}, ErrBadResponse},
		{"trailing garbage in object", `{"items":[] x}`, DecodeLimits{}, ErrBadResponse},
		{"too many pods", `{"items":[{},{},{}]}`, DecodeLimits{MaxPods: 2}, ErrTooLarge},
		{"too many bytes", `{"items":[{},{},{}],"metadata":{}}`, DecodeLimits{MaxBytes: 12}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePodList(strings.NewReader(tc.doc), tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// Exactly at the byte limit is fine.
	doc := `{"items":[]}`
	if _, err := DecodePodList(strings.NewReader(doc), DecodeLimits{MaxBytes: int64(len(doc))}); err != nil {
		t.Fatal(err)
	}
}

// endless is a pod list that never ends: empty items, one after the other.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	const head, item = `{"items":[{}`, `,{}`
	for i := range p {
		if e.n < len(head) {
			p[i] = head[e.n]
		} else {
			p[i] = item[(e.n-len(head))%len(item)]
		}
		e.n++
	}
	return len(p), nil
}

// TestDecodePodListEndless: an answer that never ends is cut at the limits.
func TestDecodePodListEndless(t *testing.T) {
	_, err := DecodePodList(&endless{}, DecodeLimits{MaxBytes: 1 << 20, MaxPods: 1 << 30})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bytes: err = %v", err)
	}
	_, err = DecodePodList(&endless{}, DecodeLimits{MaxBytes: 1 << 30, MaxPods: 1000})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("pods: err = %v", err)
	}
	// A huge string inside one pod is cut at the byte limit too.
	big := io.MultiReader(strings.NewReader(`{"items":[{"metadata":{"name":"`), &endlessA{})
	if _, err = DecodePodList(big, DecodeLimits{MaxBytes: 1 << 20}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("string: err = %v", err)
	}
}

type endlessA struct{}

func (endlessA) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func FuzzDecodePodList(f *testing.F) {
	f.Add(recorded(f))
	f.Add([]byte(`{"items":[{"kind":"Pod","metadata":{"name":"a","uid":"u","creationTimestamp":"2024-01-01T00:00:00Z"},"status":{"phase":"Running","podIP":"10.0.0.1"}}]}`))
	f.Add([]byte(`{"items":[1,"x",null,{"metadata":[]}],"items":[]}`))
	f.Add([]byte(`[{"items":[]}]`))
	f.Add([]byte(`{"items":"` + strings.Repeat("A", 1000) + `"}`))
	f.Add([]byte(`{"items":[],"x":` + strings.Repeat("9", 1000) + `}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := DecodeLimits{MaxBytes: 1 << 16, MaxPods: 64}
		pl, err := DecodePodList(bytes.NewReader(b), lim)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error %.200v", err)
			}
			// The error names what was wrong; it does not carry the document
			// (TestPodListErrorsQuoteNoDocument).
			if msg := err.Error(); len(msg) > maxErrorText || strings.IndexFunc(msg, unicode.IsControl) >= 0 {
				t.Fatalf("error of %d bytes: %.200q", len(msg), msg)
			}
			return
		}
		if len(pl.Running)+pl.Skipped > lim.MaxPods {
			t.Fatalf("%d pods over the limit", len(pl.Running)+pl.Skipped)
		}
		for _, p := range pl.Running {
			if p.IP == "" {
				t.Fatalf("pod without address: %+v", p)
			}
		}
	})
}
