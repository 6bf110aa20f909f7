package jserial

import "fmt"

// Fields reads the fields of an object by name and type, keeping the first failure in
// Err: a field the object lacks, or one of another type than asked. A null field reads
// as the zero value of the type asked.
type Fields struct {
	Object *Object
	Err    error
}

// Get returns the field called name; nil, with Err set, when the object has none.
func (f *Fields) Get(name string) any {
	v, ok := f.Object.Field(name)
	if !ok && f.Err == nil {
		f.Err = fmt.Errorf("%w: %s has no field %s", ErrType, f.Object.Class.Name, name)
	}
	return v
}

// FieldAs returns the field called name of f's object as a T.
func FieldAs[T any](f *Fields, name string) T {
	v := f.Get(name)
	t, ok := v.(T)
	if !ok && v != nil && f.Err == nil {
		f.Err = fmt.Errorf("%w: field %s of %s is a %T", ErrType, name, f.Object.Class.Name, v)
	}
	return t
}
