package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/delta"
)

// The defaults of docs/store.md's Configuration table, as literal values rather than the
// constants, so that a changed constant fails here until the document follows: a zero
// Config's KeyPrefix ("tribes:session:", the key KeyPrefix + Name + ":" + id),
// MaxInactiveInterval (30 min), Codec (delta.GobCodec), MaxValueSize (256 KiB),
// MaxSessionSize (1 MiB), MaxAttributes (1024) and Timeout (2 s). New does not contact
// Redis.
func TestDefaultsAsDocumented(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	st, err := New(Config{Client: c, Name: "localhost#/shop"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.cfg
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"KeyPrefix", cfg.KeyPrefix, "tribes:session:"},
		{"MaxInactiveInterval", cfg.MaxInactiveInterval, 30 * time.Minute},
		{"Codec", cfg.Codec, delta.ValueCodec(delta.GobCodec{})},
		{"MaxValueSize", cfg.MaxValueSize, 256 << 10},
		{"MaxSessionSize", cfg.MaxSessionSize, 1 << 20},
		{"MaxAttributes", cfg.MaxAttributes, 1024},
		{"Timeout", cfg.Timeout, 2 * time.Second},
		{"Key", st.Key("abc"), "tribes:session:localhost#/shop:abc"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
}
