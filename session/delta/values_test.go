package delta_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

// Types for the attribute tests: one registered with gob as a value, one as a pointer,
// one with an unexported field, one that encodes itself.
type cartValue struct {
	Items []string
	Total float64
}

type userPtr struct {
	Name  string
	Since time.Time // unexported fields inside, but time.Time encodes itself
}

type hidden struct {
	Visible string
	secret  string
}

func init() {
	gob.Register(cartValue{})
	gob.Register(&userPtr{})
	gob.Register(hidden{})
}

// Every value Set accepts reads back as the same Go type, with the same content, on
// another node; what would not is refused at Set with ErrValueNotReplicable.
func TestAttributeTypesSurviveReplication(t *testing.T) {
	ctx := context.Background()
	_, a, b, _ := three(t, delta.Config{})
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]any{
		"map":     map[string]any{"n": 1, "s": "x", "list": []any{true, 2.5}},
		"slice":   []any{1, "two", map[string]string{"k": "v"}},
		"strings": []string{"a", "b"},
		"counts":  map[string]int{"a": 1},
		"struct":  cartValue{Items: []string{"book"}, Total: 12.5},
		"pointer": &userPtr{Name: "ann", Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		"int":     42,
	}
	for name, v := range ok {
		if err := s.Set(name, v); err != nil {
			t.Fatalf("Set(%s, %T): %v", name, v, err)
		}
	}
	if err := a.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	copyOnB := b.m.Find(s.ID())
	if copyOnB == nil {
		t.Fatal("B has no copy")
	}
	for name, want := range ok {
		got, found := copyOnB.Get(name)
		if !found || reflect.TypeOf(got) != reflect.TypeOf(want) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s on B: %T %#v, want %T %#v", name, got, got, want, want)
		}
		if local, _ := s.Get(name); reflect.TypeOf(local) != reflect.TypeOf(want) {
			t.Errorf("%s on A: %T", name, local)
		}
	}
	if u, found := delta.Attr[*userPtr](copyOnB, "pointer"); !found || u.Name != "ann" {
		t.Errorf("Attr[*userPtr] on B: %v %v", u, found)
	}

	refused := map[string]any{
		"unexported":         hidden{Visible: "v", secret: "s"},
		"unexported inside":  map[string]any{"h": []any{hidden{}}},
		"pointer to value":   &cartValue{}, // gob registered cartValue: B would get a cartValue
		"value of pointer":   userPtr{},    // gob registered *userPtr: B would get a *userPtr
		"unregistered":       struct{ A int }{1},
		"unregistered named": time.Second, // gob.Register(time.Duration(0)) on every node to store it
		"function":           func() {},
	}
	for name, v := range refused {
		err := s.Set(name, v)
		var ve *delta.ValueError
		if !errors.As(err, &ve) || ve.Name != name {
			t.Errorf("Set(%s, %T) = %v, want a *ValueError", name, v, err)
		}
		if _, found := s.Get(name); found {
			t.Errorf("%s stored although refused", name)
		}
	}
	for _, name := range []string{"unexported", "unexported inside", "pointer to value", "value of pointer"} {
		if err := s.Set(name, refused[name]); !errors.Is(err, delta.ErrValueNotReplicable) {
			t.Errorf("Set(%s): %v, want ErrValueNotReplicable", name, err)
		}
	}
	if err := s.Set("unexported", hidden{}); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Errorf("the error does not name the field: %v", err)
	}
}

func TestNilSession(t *testing.T) {
	var s *delta.Session
	if v, ok := delta.Attr[int](s, "n"); ok || v != 0 {
		t.Errorf("Attr on nil: %v %v", v, ok)
	}
	if _, ok := s.Get("n"); ok || s.ID() != "" || s.IsValid() || s.Names() != nil {
		t.Error("readers on a nil session returned something")
	}
	for name, err := range map[string]error{
		"Set":        s.Set("n", 1),
		"Remove":     s.Remove("n"),
		"MarkDirty":  s.MarkDirty("n"),
		"SetNote":    s.SetNote("n", "v"),
		"SetAuth":    s.SetAuthType("FORM"),
		"SetTimeout": s.SetMaxInactiveInterval(time.Minute),
		"SetPrinc":   s.SetPrincipal(&delta.Principal{Name: "ann"}),
		"RemoveNote": s.RemoveNote("n"),
		"Attach":     s.AttachListener("sso"),
		"Detach":     s.DetachListener("sso"),
	} {
		if !errors.Is(err, delta.ErrNoSession) {
			t.Errorf("%s on nil: %v", name, err)
		}
	}
	if _, err := s.Update("n", func(any) (any, error) { return 1, nil }); !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("Update on nil: %v", err)
	}
	_, a, _, _ := three(t, delta.Config{})
	if err := a.m.Replicate(context.Background(), nil); !errors.Is(err, delta.ErrNoSession) {
		t.Errorf("Replicate(nil): %v", err)
	}
}

// inc adds one to an int attribute, yielding in between as a request doing some work
// would, so that unsynchronised read-modify-writes would interleave.
func inc(old any) (any, error) {
	n, _ := old.(int)
	runtime.Gosched()
	return n + 1, nil
}

// 32 concurrent requests of one session each add one with Update: none is lost, here or on
// the other nodes, and each request saw a different value.
// TestChangesOfAnInvalidatedSessionRefused: every change of a session after its
// invalidation is ErrInvalidSession, and changes nothing.
func TestChangesOfAnInvalidatedSessionRefused(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	s := create(t, a, "k", "v")
	if err := a.m.Invalidate(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Set":        s.Set("k", "again"),
		"Remove":     s.Remove("k"),
		"MarkDirty":  s.MarkDirty("k"),
		"SetNote":    s.SetNote("n", "w"),
		"RemoveNote": s.RemoveNote("n"),
		"SetAuth":    s.SetAuthType("FORM"),
		"SetPrinc":   s.SetPrincipal(&delta.Principal{Name: "ann"}),
		"SetTimeout": s.SetMaxInactiveInterval(time.Minute),
		"Attach":     s.AttachListener("sso"),
		"Detach":     s.DetachListener("sso"),
	} {
		if !errors.Is(err, delta.ErrInvalidSession) {
			t.Errorf("%s on an invalidated session: %v, want ErrInvalidSession", name, err)
		}
	}
	if _, err := s.Update("k", func(any) (any, error) { return 1, nil }); !errors.Is(err, delta.ErrInvalidSession) {
		t.Errorf("Update on an invalidated session: %v, want ErrInvalidSession", err)
	}
	if s.AuthType() != "" || s.Principal() != nil {
		t.Errorf("an invalidated session changed: auth type %q, principal %v", s.AuthType(), s.Principal())
	}
}

func TestUpdateConcurrentRequests(t *testing.T) {
	_, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := delta.FromContext(r.Context()).GetOrCreate()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		v, err := s.Update("count", inc)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, v)
	}))
	id := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	const n = 32
	seen := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := get(h, "/", id)
			seen[i], _ = strconv.Atoi(w.Body.String())
		})
	}
	wg.Wait()
	slices.Sort(seen)
	for i, v := range seen {
		if v != i+2 {
			t.Fatalf("requests saw %v, want 2..%d once each", seen, n+1)
		}
	}
	for name, nd := range map[string]*node{"A": a, "B": b, "C": c} {
		if v, _ := delta.Attr[int](nd.m.Find(id), "count"); v != n+1 {
			t.Errorf("%s has count %d, want %d", name, v, n+1)
		}
	}
	// An error from f changes nothing.
	s := a.m.Find(id)
	boom := errors.New("boom")
	if _, err := s.Update("count", func(any) (any, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("Update error: %v", err)
	}
	if v, _ := delta.Attr[int](s, "count"); v != n+1 || s.Dirty() {
		t.Errorf("after a failed Update: count %d, dirty %v", v, s.Dirty())
	}
}

// A request that brings another node's session id renames it (jvmRoute binder): counted,
// and logged once with a hint; without the binder the id stays.
func TestRerouteCountedAndLoggedOnce(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprint("binderDisabled=", disabled), func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
			nw, a, _, _ := three(t, delta.Config{})
			b := startReady(t, nw, delta.Config{JvmRoute: "z", Logger: log})
			ha := wrap(t, a, delta.HTTPConfig{}, counter)
			hb := wrap(t, b, delta.HTTPConfig{DisableJvmRouteBinder: disabled}, counter)
			for range 3 {
				id := sessionCookie(t, get(ha, "/", ""), "JSESSIONID").Value
				delta.DrainAsync(a.m)
				w := get(hb, "/", id)
				if w.Body.String() != "2" {
					t.Fatalf("failover request: %q", w.Body.String())
				}
				renamed := sessionCookie(t, w, "JSESSIONID")
				if disabled != (renamed == nil) {
					t.Fatalf("binder disabled %v, new cookie %+v", disabled, renamed)
				}
			}
			want, lines := uint64(3), 1
			if disabled {
				want, lines = 0, 0
			}
			mu.Lock()
			defer mu.Unlock()
			if got := b.m.Stats().SessionsRerouted; got != want {
				t.Errorf("SessionsRerouted %d, want %d", got, want)
			}
			if n := strings.Count(logs.String(), "renamed a session"); n != lines {
				t.Errorf("rename logged %d times, want %d:\n%s", n, lines, logs.String())
			}
		})
	}
}
