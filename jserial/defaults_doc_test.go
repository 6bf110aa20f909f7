package jserial

import "testing"

// The decoder limits docs/rpc.md and the package documentation give, as literal values
// rather than the constants, so that a changed constant fails here until the documents
// follow: a zero DecoderConfig decodes with MaxDepth 1000, MaxHandles 1<<20, MaxArrayLen
// 1<<24 and MaxBytes 64 MiB.
func TestDecoderDefaultsAsDocumented(t *testing.T) {
	c, err := DecoderConfig{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxDepth != 1000 || c.MaxHandles != 1<<20 || c.MaxArrayLen != 1<<24 || c.MaxBytes != 64<<20 {
		t.Errorf("zero DecoderConfig became %+v, documented MaxDepth 1000, MaxHandles 1<<20, MaxArrayLen 1<<24, MaxBytes 64 MiB", c)
	}
	// A field set is kept; a negative one is refused.
	if c, err := (DecoderConfig{MaxDepth: 7}).withDefaults(); err != nil || c.MaxDepth != 7 {
		t.Errorf("MaxDepth 7: %+v, %v", c, err)
	}
	if _, err := (DecoderConfig{MaxArrayLen: -1}).withDefaults(); err == nil {
		t.Error("a negative MaxArrayLen was accepted")
	}
}
