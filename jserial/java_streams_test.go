package jserial

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/tomcat"
)

// TestJavaStreamsDecode: streams the JDK writes of what applications keep in sessions
// (testdata/javastreams: lists and maps of 10 000 Integer, Long, Boolean, Date,
// BigDecimal, enums, Timestamps, atomics, small beans, a HashMap<String,Object> of
// 10 000 mixed attributes, Tomcat's GenericPrincipal with roles, ...) decode with the
// default config, from bytes and from a Reader. Objects of an entity hierarchy of
// three classes with a boolean each (9 bytes an object, 280 taken: 31 times) were refused
// at the objects' budget of 24 times the stream, now 32.
func TestJavaStreamsDecode(t *testing.T) {
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
}
