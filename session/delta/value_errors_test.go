package delta

import (
	"errors"
	"testing"
)

// GobCodec.Unmarshal refuses what no Marshal wrote with errors wrapping
// ErrMalformedValue; they were bare strings, or gob's own, for no errors.Is.
func TestGobCodecUnmarshalErrorsTyped(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           {},
		"unknown tag":     {0xfe},
		"bool of 2 bytes": {tagBool, 1, 1},
		"bool of 2":       {tagBool, 2},
		"cut integer":     {tagInt64, 0x80},
		"cut uint":        {tagUint64},
		"short float":     {tagFloat64, 1, 2, 3},
		"bad time":        {tagTime, 9},
		"bad gob":         {tagGob, 3, 4, 5},
	} {
		if v, err := (GobCodec{}).Unmarshal(b); !errors.Is(err, ErrMalformedValue) {
			t.Errorf("%s (%x): %v, %v, want ErrMalformedValue", name, b, v, err)
		}
	}
}
