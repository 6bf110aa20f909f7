package delta_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// A principal's value read with a JavaCodec's Limits, as a session/backup session reads
// a diff's principal with its Limits.Java: the defaults take a principal whose attribute
// is a 4 KiB String, a MaxBytes of 1 KiB refuses it.
func ExampleJavaCodec_DecodePrincipal() {
	value, err := delta.EncodePrincipal(&delta.Principal{Name: "alice", Roles: []string{"admin"},
		Attributes: map[string]any{"note": strings.Repeat("x", 4<<10)}})
	if err != nil {
		panic(err)
	}
	var defaults delta.JavaCodec
	p, err := defaults.DecodePrincipal(value)
	if err != nil {
		panic(err)
	}
	note, _ := p.Attribute("note")
	fmt.Println(p.Name, p.HasRole("admin"), len(note.(string)))

	small := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 1 << 10}}
	_, err = small.DecodePrincipal(value)
	fmt.Println(errors.Is(err, delta.ErrMalformed), errors.Is(err, jserial.ErrLimit))
	// Output:
	// alice true 4096
	// true true
}
