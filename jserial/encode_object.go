package jserial

import "math"

func (s *encState) genericArray(a *Array) error {
	k := ptrKey(a)
	if s.ref(k) {
		return nil
	}
	if a.Class == nil || len(a.Class.Name) < 2 || a.Class.Name[0] != '[' {
		return typeErr("*Array without an array class descriptor")
	}
	et := a.Class.Name[1]
	isObj := et == 'L' || et == '['
	f := Field{Type: et, Name: "element"}
	s.buf = append(s.buf, tcArray)
	if err := s.classDesc(a.Class); err != nil {
		return err
	}
	s.assign(k)
	s.u32(uint32(len(a.Elems)))
	for _, v := range a.Elems {
		if isObj {
			if err := s.value(v); err != nil {
				return err
			}
			continue
		}
		if err := s.prim(f, v); err != nil {
			return inPath(a.Class.Name, err)
		}
	}
	return nil
}

func (s *encState) prim(f Field, v any) error {
	if err := checkField(f, v); err != nil {
		return err
	}
	switch x := v.(type) {
	case int8:
		s.buf = append(s.buf, byte(x))
	case bool:
		s.buf = append(s.buf, boolByte(x))
	case Char:
		s.u16(uint16(x))
	case int16:
		s.u16(uint16(x))
	case int32:
		s.u32(uint32(x))
	case float32:
		s.u32(math.Float32bits(x))
	case int64:
		s.u64(uint64(x))
	case float64:
		s.u64(math.Float64bits(x))
	}
	return nil
}

func (s *encState) genericObject(o *Object) error {
	k := ptrKey(o)
	if s.ref(k) {
		return nil
	}
	cd := o.Class
	if cd == nil || cd.Name == "" {
		return typeErr("*Object without a named class descriptor")
	}
	ext := cd.Flags&SCExternalizable != 0
	var chain []*ClassDesc
	if !ext {
		var err error
		if chain, err = s.dataChain(cd); err != nil {
			return err
		}
	}
	switch {
	case ext && cd.Flags&SCBlockData == 0:
		return typeErr("%s: externalizable without SCBlockData", cd.Name)
	case !ext && cd.Flags&SCSerializable == 0:
		return typeErr("%s: neither SCSerializable nor SCExternalizable", cd.Name)
	case cd.Flags&SCEnum != 0 || cd.Name[0] == '[':
		return typeErr("*Object of class %s", cd.Name)
	case !ext && len(o.Slots) != len(chain):
		return typeErr("%s: %d slots for %d classes with data", cd.Name, len(o.Slots), len(chain))
	}
	s.buf = append(s.buf, tcObject)
	if err := s.classDesc(cd); err != nil {
		return err
	}
	s.assign(k)
	if ext {
		return s.contents(o.External)
	}
	for i, c := range chain {
		sl := &o.Slots[i]
		if sl.Class != c {
			return typeErr("%s: slot %d is for class %v, want %s", cd.Name, i, className(sl.Class), c.Name)
		}
		wm := c.Flags&SCWriteMethod != 0
		if len(sl.Values) < len(c.Fields) {
			return typeErr("%s: %d values for %d fields", c.Name, len(sl.Values), len(c.Fields))
		}
		if !wm && len(sl.Values) > len(c.Fields) {
			return typeErr("%s: %d values for %d fields: an annotation without SCWriteMethod",
				c.Name, len(sl.Values), len(c.Fields))
		}
		for j, f := range c.Fields {
			var err error
			if f.Type == 'L' || f.Type == '[' {
				err = checkField(f, sl.Values[j])
				if err == nil {
					err = s.value(sl.Values[j])
				}
			} else {
				err = s.prim(f, sl.Values[j])
			}
			if err != nil {
				return inPath(c.Name+"."+f.Name, err)
			}
		}
		if wm {
			if err := s.contents(sl.Values[len(c.Fields):]); err != nil {
				return err
			}
		}
	}
	return nil
}
