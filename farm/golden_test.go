package farm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/jserial"
)

// readGolden returns a stream catalina-ha's classes wrote (scripts/gen-golden.sh farm:
// interop/java/tomcat/FarmGolden.java).
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "java", name+".ser"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	m, err := farm.DecodeMessage(b, jserial.DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGoldenFileMessage decodes the FileMessages Tomcat's FarmWarDeployer sends, and
// encodes one back to Java's bytes.
func TestGoldenFileMessage(t *testing.T) {
	first := readGolden(t, "file_first")
	m, ok := decode(t, first).(*farm.FileMessage)
	if !ok || m.Number != 1 || m.Total != 2 || m.FileName != "hello.war" || m.ContextName != "/hello" ||
		m.Timestamp != 1700000000000 || len(m.Data) != 10240 {
		t.Fatalf("first chunk %+v", m)
	}
	for i, c := range m.Data {
		if c != byte(i%251) {
			t.Fatalf("first chunk byte %d: %d", i, c)
		}
	}
	if got, err := farm.AppendMessage(nil, m); err != nil || !bytes.Equal(got, first) {
		t.Errorf("first chunk re-encoded differently (%v):\n got %x\nwant %x", err, got, first)
	}
	// Tomcat reuses its 10 KiB buffer: the last chunk's array still holds the first
	// chunk's bytes after its dataLength, which are not the file's.
	last, ok := decode(t, readGolden(t, "file_last")).(*farm.FileMessage)
	if !ok || last.Number != 2 || last.Total != 2 || len(last.Data) != 100 {
		t.Fatalf("last chunk %+v", last)
	}
	for i, c := range last.Data {
		if c != byte(200+i%50) {
			t.Fatalf("last chunk byte %d: %d", i, c)
		}
	}
	empty := readGolden(t, "file_empty_name")
	e, ok := decode(t, empty).(*farm.FileMessage)
	if !ok || e.FileName != "ROOT.war" || e.ContextName != "" || len(e.Data) != 0 || e.Number != 1 || e.Total != 1 {
		t.Fatalf("empty chunk %+v", e)
	}
	if got, err := farm.AppendMessage(nil, e); err != nil || !bytes.Equal(got, empty) {
		t.Errorf("empty chunk re-encoded differently (%v):\n got %x\nwant %x", err, got, empty)
	}
}

// TestGoldenUndeployMessage decodes Tomcat's UndeployMessage, its sender included, and
// encodes it back to the same bytes.
func TestGoldenUndeployMessage(t *testing.T) {
	want := readGolden(t, "undeploy")
	m, ok := decode(t, want).(*farm.UndeployMessage)
	if !ok || m.ContextName != "/hello" || m.UniqueID != "Undeploy:/hello:1700000000000" || m.Timestamp != 1700000000000 ||
		m.Sender.Port != 4000 || !bytes.Equal(m.Sender.Host, []byte{127, 0, 0, 1}) || string(m.Sender.Domain) != "farm" {
		t.Fatalf("undeploy %+v", m)
	}
	if got, err := farm.AppendMessage(nil, m); err != nil || !bytes.Equal(got, want) {
		t.Errorf("re-encoded differently (%v):\n got %x\nwant %x", err, got, want)
	}
}
