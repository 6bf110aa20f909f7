package jserial

import (
	"errors"
	"testing"
)

// A class descriptor that is its own superclass (through another) is refused with
// ErrCycle when an *Object of it is marshalled (TestEncodeErrors, "own superclass"), and
// so is an *Array, *Class, *Enum or the *ClassDesc itself: before, the encoder wrote the
// superclass as a back-reference to the descriptor it was still writing, a stream its
// own decoder rejects with ErrCycle.
func TestCyclicDescriptorEncodes(t *testing.T) {
	arr := &ClassDesc{Name: "[LA;", SUID: 1, Flags: SCSerializable}
	b := &ClassDesc{Name: "B", SUID: 2, Flags: SCSerializable, Super: arr}
	arr.Super = b
	enum := &ClassDesc{Name: "E", Flags: SCSerializable | SCEnum, Super: b}
	for _, v := range []any{&Array{Class: arr}, &Class{Desc: arr}, arr, &Enum{Class: enum, Name: "X"}} {
		out, err := Marshal(v)
		if errors.Is(err, ErrCycle) {
			continue
		}
		_, derr := Unmarshal(out)
		t.Errorf("Marshal(%T with a cyclic superclass chain) = %v, want ErrCycle; the stream decodes with %v", v, err, derr)
	}
}
