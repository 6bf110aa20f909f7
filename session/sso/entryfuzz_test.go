package sso_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/sso"
)

// FuzzEntry: decoding a map value never panics; what decodes encodes and decodes to an
// entry with the same principal and credentials.
func FuzzEntry(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "java", "*.ser"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	limits := jserial.DecoderConfig{MaxBytes: 1 << 20, MaxArrayLen: 1 << 12, MaxDepth: 32, MaxHandles: 1 << 12}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := jserial.UnmarshalConfig(b, limits)
		if err != nil {
			return
		}
		d, err := sso.Codec{}.Decode(v)
		if err != nil {
			return
		}
		e := d.(*sso.Entry)
		o, err := sso.Codec{}.Encode(e)
		if err != nil {
			return // a principal without a Java form, say
		}
		out, err := jserial.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := jserial.Unmarshal(out)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := sso.Codec{}.Decode(v2)
		if err != nil {
			t.Fatal(err)
		}
		e2 := d2.(*sso.Entry)
		if e2.AuthType != e.AuthType || e2.Username != e.Username || e2.Password != e.Password ||
			(e.Principal == nil) != (e2.Principal == nil) || e.Principal != nil && e.Principal.Name != e2.Principal.Name {
			t.Fatalf("round trip: %+v, then %+v", e, e2)
		}
	})
}
