package jserial

import (
	"errors"
	"fmt"
	"reflect"
)

// Sentinel errors. Every decoding error is a *DecodeError wrapping one of them, so
// errors.Is(err, jserial.ErrTruncated) and errors.As(err, &*DecodeError) both work.
var (
	// ErrBadHeader: the stream does not start with AC ED 00 05.
	ErrBadHeader = errors.New("jserial: not a Java serialization stream (version 5)")
	// ErrTruncated: the input ended inside an element.
	ErrTruncated = errors.New("jserial: truncated stream")
	// ErrUnknownTypeCode: a byte that is not a TC_* code where one was expected.
	ErrUnknownTypeCode = errors.New("jserial: unknown type code")
	// ErrLimit: a DecoderConfig or EncoderConfig limit was exceeded.
	ErrLimit = errors.New("jserial: limit exceeded")
	// ErrCycle: a reference to a mapped value (list, map, set, ...) or class descriptor
	// that is still being decoded (Go slices and Maps cannot contain themselves), or a
	// class descriptor that is its own superclass; the encoder refuses such a descriptor,
	// and one in its own annotation, wherever it is written (TestCyclicDescriptorEncodes).
	ErrCycle = errors.New("jserial: cyclic reference")
	// ErrSUIDMismatch: a JDK class the package maps to a Go type arrived with another
	// serialVersionUID than the JDK's.
	ErrSUIDMismatch = errors.New("jserial: serialVersionUID mismatch")
	// ErrMalformed: the stream is structurally invalid (bad handle, invalid modified
	// UTF-8, a descriptor Java would reject, a mapped class with unexpected custom data).
	ErrMalformed = errors.New("jserial: malformed stream")
	// ErrUnsupported: valid Java serialization the package does not handle
	// (TC_EXCEPTION, TC_PROXYCLASSDESC, externalizable data without SC_BLOCK_DATA).
	ErrUnsupported = errors.New("jserial: unsupported stream element")
	// ErrTrailingData: Unmarshal found more than one element in the stream.
	ErrTrailingData = errors.New("jserial: data after the first element")
	// ErrType: Marshal/Encode got a Go value it cannot write, or a field value whose Go
	// type does not match the field's type code.
	ErrType = errors.New("jserial: value cannot be serialized")
	// ErrInvalidConfig wraps every configuration error: a negative DecoderConfig or
	// EncoderConfig limit, a nil io.Reader or io.Writer (NewDecoder, NewEncoder,
	// UnmarshalConfig, UnmarshalAll). It is not a *DecodeError.
	ErrInvalidConfig = errors.New("jserial: invalid configuration")
)

// DecodeError reports where and why decoding failed.
type DecodeError struct {
	Offset int64 // byte offset in the stream (the header counts)
	Err    error // one of the sentinels above, or an error of the underlying reader
	Detail string
}

// Error says what failed and at which offset.
func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v at offset %d", e.Err, e.Offset)
	}
	return fmt.Sprintf("%v at offset %d: %s", e.Err, e.Offset, e.Detail)
}

// Unwrap returns Err, so errors.Is finds the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

func typeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrType}, args...)...)
}

// goTypeErr is the ErrType of a Go value with no Java mapping, with a hint at the Go type
// that maps to the Java class a caller most likely meant.
func goTypeErr(v any) error {
	hint := ""
	t := reflect.TypeOf(v)
	if t == nil {
		return typeErr("Go type %T", v)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		hint = " (use int32 for a Java Integer, int64 for a Long)"
	case reflect.Map:
		hint = " (use a *jserial.Map for a Java HashMap)"
	case reflect.Struct:
		hint = " (use a *jserial.Object for an instance of a Java class)"
	case reflect.Slice, reflect.Array:
		hint = " (use []any for a Java ArrayList, []int32 or []int64 for an int[] or long[])"
	}
	return typeErr("Go type %T%s", v, hint)
}
