package jserial_test

import (
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

// A Java enum constant, here java.util.concurrent.TimeUnit.SECONDS, written as Java's
// ObjectOutputStream writes it (the class descriptor, then the constant's name) and read
// back.
func ExampleNewEnumDesc() {
	seconds := &jserial.Enum{Class: jserial.NewEnumDesc("java.util.concurrent.TimeUnit"), Name: "SECONDS"}
	b, err := jserial.Marshal(seconds)
	if err != nil {
		panic(err)
	}
	v, err := jserial.Unmarshal(b)
	if err != nil {
		panic(err)
	}
	e := v.(*jserial.Enum)
	fmt.Println(e.Class.Name, e.Name, e.Class.Super.Name)
	// Output: java.util.concurrent.TimeUnit SECONDS java.lang.Enum
}
