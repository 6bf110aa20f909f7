package redisstore

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/delta"
)

// fuzzStore is a store with small limits whose Redis is never contacted.
func fuzzStore(t testing.TB) *Store {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	st, err := New(Config{Client: c, Name: "app", MaxSessionSize: 64 << 10, MaxValueSize: 16 << 10, MaxAttributes: 64})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// FuzzDecode feeds arbitrary bytes to the stored-format decoder: it returns a session or
// an ErrCorrupt error, never panics, and what it accepts encodes back to a value it
// reads as the same session.
func FuzzDecode(f *testing.F) {
	st := fuzzStore(f)
	s := st.NewSession()
	_ = s.Set("count", 7)
	_ = s.Set("user", "ada")
	_ = s.Set("cart", map[string]any{"a": 1})
	state, _, _, err := s.snapshot(1)
	if err != nil {
		f.Fatal(err)
	}
	state.Principal = &delta.Principal{Name: "ada", Roles: []string{"admin"}}
	state.Notes = []delta.NamedValue{{Name: "n", Value: []byte("v")}}
	good, err := st.encode(&state, newID())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("S", []byte{})
	f.Add(state.ID, good)
	f.Add(state.ID, good[:len(good)/2])
	f.Add("other", good)
	f.Fuzz(func(t *testing.T, id string, data []byte) {
		got, err := st.decode(id, data)
		if err != nil {
			if got != nil {
				t.Fatal("a session and an error")
			}
			return
		}
		again, err := st.encode(got, newID())
		if err != nil {
			t.Fatalf("accepted session does not encode: %v", err)
		}
		back, err := st.decode(id, again)
		if err != nil {
			t.Fatalf("re-encoded session does not decode: %v", err)
		}
		if !reflect.DeepEqual(normal(back), normal(got)) {
			t.Fatalf("round trip changed the session:\n%+v\n%+v", back, got)
		}
	})
}

// normal clears what a round trip may turn from empty to nil.
func normal(s *delta.SessionState) delta.SessionState {
	c := *s
	for _, l := range []*[]delta.NamedValue{&c.Attributes, &c.Notes} {
		if len(*l) == 0 {
			*l = nil
		}
		for i := range *l {
			if len((*l)[i].Value) == 0 {
				(*l)[i].Value = nil
			}
		}
	}
	if len(c.Listeners) == 0 {
		c.Listeners = nil
	}
	return c
}

// The fuzz seed that is a real stored session decodes to it.
func TestDecodeEncoded(t *testing.T) {
	st := fuzzStore(t)
	s := st.NewSession()
	_ = s.Set("k", "v")
	state, _, _, _ := s.snapshot(5)
	data, err := st.encode(&state, newID())
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.decode(state.ID, data)
	if err != nil || got.ID != state.ID || got.Version != 1 || got.LastAccessedTime != 5 ||
		len(got.Attributes) != 1 || !bytes.Equal(got.Attributes[0].Value, state.Attributes[0].Value) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}
