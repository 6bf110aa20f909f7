package jserial_test

import (
	"bytes"
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

// One stream of several values, as an ObjectOutputStream writes them and an
// ObjectInputStream reads them back: a String, an Integer and a HashMap.
func ExampleNewEncoder() {
	var buf bytes.Buffer
	enc, err := jserial.NewEncoder(&buf, jserial.EncoderConfig{}) // MaxDepth 1000
	if err != nil {
		panic(err)
	}
	m := &jserial.Map{Class: jserial.HashMap}
	m.Put("count", int32(3))
	for _, v := range []any{"hello", int32(42), m} {
		if err := enc.Encode(v); err != nil {
			panic(err)
		}
	}

	dec, err := jserial.NewDecoder(&buf, jserial.DecoderConfig{}) // the default limits
	if err != nil {
		panic(err)
	}
	for range 3 {
		v, err := dec.Decode()
		if err != nil {
			panic(err)
		}
		if mm, ok := v.(*jserial.Map); ok {
			n, _ := mm.Get("count")
			fmt.Printf("%T count=%v\n", v, n)
			continue
		}
		fmt.Printf("%T %v\n", v, v)
	}
	// Output:
	// string hello
	// int32 42
	// *jserial.Map count=3
}
