package jserial

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/internal/tomcat"
)

// TestJavaStreamsDecode: streams the JDK writes of what applications keep in sessions
// (testdata/javastreams: lists and maps of 10 000 Integer, Long, Boolean, Date,
// BigDecimal, enums, Timestamps, atomics, small beans, a HashMap<String,Object> of
// 10 000 mixed attributes, Tomcat's GenericPrincipal with roles, ...) decode with the
// default config, from bytes and from a Reader. Objects of an entity hierarchy of
// three classes with a boolean each (9 bytes an object, 280 taken: 31 times) were refused
// at the objects' budget of 24 times the stream, now 32; lists of 10 000 objects of
// hierarchies of four and eight classes with a boolean each (10 and 14 bytes an object),
// and of eight with a boolean and a byte each (22 bytes), decode with their values:
// with a Slot of 56 bytes and a value slice per class, those of four booleans took 35
// times their bytes, of eight 45, and were refused. Lists of objects of hierarchies of
// 9, 12 and 16 classes with a boolean each (15, 18 and 22 bytes an object, 33, 36 and 38
// times) were refused at the objects' budget of 32 times, now 52, and decode.
func TestJavaStreamsDecode(t *testing.T) {
	allocbound.WithoutRace(t)
	tomcat.Skip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cp := tomcat.Classpath
	if out, err := exec.CommandContext(ctx, "javac", "-nowarn", "-encoding", "UTF-8", "-cp", cp, "-d", dir,
		filepath.Join("testdata", "javastreams", "StreamGen.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "java", "-XX:TieredStopAtLevel=1", "-cp", dir+string(os.PathListSeparator)+cp,
		"StreamGen", dir).CombinedOutput(); err != nil {
		t.Fatalf("StreamGen: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.ser"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("StreamGen wrote %d streams", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		v, err := UnmarshalConfig(b, DecoderConfig{})
		if err != nil || v == nil {
			t.Errorf("%s (%d bytes): %v, %T", name, len(b), err, v)
			continue
		}
		d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := d.Decode(); err != nil || v == nil {
			t.Errorf("%s (%d bytes) from a Reader: %v, %T", name, len(b), err, v)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "beans_ent3.ser")); err != nil {
		t.Error(err)
	}
	for _, h := range []struct {
		file         string
		depth        int
		first, last  string // fields StreamGen set to i%2 == 0 and to i%3 == 0 (bool) or byte(i)
		lastIsByte   bool
		fieldsAClass int
	}{
		{"beans_ent4", 4, "h1", "h4", false, 1},
		{"beans_ent8", 8, "h1", "h8", false, 1},
		{"beans_ent9", 9, "h1", "h9", false, 1},
		{"beans_ent12", 12, "h1", "h12", false, 1},
		{"beans_ent16", 16, "h1", "h16", false, 1},
		{"beans_ent8x2", 8, "a1", "b8", true, 2},
	} {
		b, err := os.ReadFile(filepath.Join(dir, h.file+".ser"))
		if err != nil {
			t.Error(err)
			continue
		}
		v, err := Unmarshal(b)
		if err != nil {
			t.Errorf("%s (%d bytes): %v", h.file, len(b), err)
			continue
		}
		list, _ := v.([]any)
		if len(list) != 10_000 {
			t.Errorf("%s: %T of %d elements, want 10 000", h.file, v, len(list))
			continue
		}
		for i, e := range list {
			o, ok := e.(*Object)
			if !ok || len(o.Slots) != h.depth {
				t.Fatalf("%s[%d]: %T, want an *Object of %d slots", h.file, i, e, h.depth)
			}
			for _, sl := range o.Slots {
				if len(sl.Values) != h.fieldsAClass {
					t.Fatalf("%s[%d]: slot of %s has %d values, want %d", h.file, i, sl.Class.Name, len(sl.Values), h.fieldsAClass)
				}
			}
			first, _ := o.Field(h.first)
			last, _ := o.Field(h.last)
			var want any = i%3 == 0
			if h.lastIsByte {
				want = int8(i)
			}
			if first != (i%2 == 0) || last != want {
				t.Fatalf("%s[%d]: %s %v, %s %v; want %v, %v", h.file, i, h.first, first, h.last, last, i%2 == 0, want)
			}
		}
	}
}
