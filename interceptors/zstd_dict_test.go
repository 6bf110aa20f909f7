package interceptors

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testenv"
)

// TestZstdFrameNamingADictionaryRefused: the interceptor has no dictionary (its encoder
// uses none), so a frame naming one, made by the reference CLI with a trained dictionary
// (`zstd -D dict`, from a file and from a pipe) or by klauspost's encoder with it, is
// refused from its header with an error wrapping ErrCorrupt and zstd.ErrUnknownDictionary,
// counted in DecompressErrors and not delivered; a frame made with a raw content
// dictionary (its header names none) is refused as corrupt, also counted. None panics.
func TestZstdFrameNamingADictionaryRefused(t *testing.T) {
	cli, err := exec.LookPath("zstd")
	if err != nil {
		testenv.Missing(t, "needs the zstd CLI: run scripts/install-test-deps.sh")
		return
	}
	dir := t.TempDir()
	var samples []string
	for i := range 200 {
		name := filepath.Join(dir, fmt.Sprintf("s%d", i))
		if err := os.WriteFile(name, sessionPayload(600, uint64(i)), 0o600); err != nil {
			t.Fatal(err)
		}
		samples = append(samples, name)
	}
	dict := filepath.Join(dir, "dict")
	if out, err := exec.Command(cli, append([]string{"-q", "--train", "--maxdict=4096", "-o", dict}, samples...)...).CombinedOutput(); err != nil {
		t.Fatalf("zstd --train: %v: %s", err, out)
	}
	trained, err := os.ReadFile(dict)
	if err != nil {
		t.Fatal(err)
	}
	rawDict := filepath.Join(dir, "raw")
	if err := os.WriteFile(rawDict, sessionPayload(4096, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderDict(trained))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()

	src := sessionPayload(600, 5)
	cases := []struct {
		name  string
		frame []byte
		named bool // the header names the dictionary
	}{
		{"zstd -D trained, file", cliOut(t, cli, nil, "-D", dict, samples[5]), true},
		{"zstd -D trained, pipe", cliOut(t, cli, src, "-D", dict), true},
		{"klauspost, trained", enc.EncodeAll(src, nil), true},
		{"zstd -D raw content", cliOut(t, cli, sessionPayload(4096, 1)[:2000], "-D", rawDict), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h zstd.Header
			if err := h.Decode(tc.frame); err != nil || (h.DictionaryID != 0) != tc.named {
				t.Fatalf("header %+v, %v", h, err)
			}
			nw := channeltest.NewNetwork()
			z, err := NewZstd(ZstdConfig{})
			if err != nil {
				t.Fatal(err)
			}
			b := newNode(t, nw, z)
			startNodes(t, b)
			err = b.tap.inject(&channel.Message{Options: OptZstd, ID: channel.NewMessageID(), Data: tc.frame})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if tc.named && !errors.Is(err, zstd.ErrUnknownDictionary) {
				t.Fatalf("err = %v, want zstd.ErrUnknownDictionary", err)
			}
			if len(b.messages()) != 0 || z.Stats().DecompressErrors != 1 {
				t.Fatalf("delivered %d, stats %+v", len(b.messages()), z.Stats())
			}
			t.Log(err)
		})
	}
}

// cliOut runs the zstd CLI quietly to stdout with args, stdin from in unless nil.
func cliOut(t *testing.T, cli string, in []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(cli, append([]string{"-q", "-c"}, args...)...)
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd %v: %v", args, err)
	}
	return out
}
