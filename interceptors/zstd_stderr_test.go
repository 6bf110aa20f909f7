package interceptors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdStderrChild names, in the environment of a subprocess TestZstdBombsPrintNothing
// starts, what the subprocess does: "bombs" or "control".
const zstdStderrChild = "TRIBES_ZSTD_STDERR_CHILD"

// TestZstdBombsPrintNothing: refusing zstd bombs writes nothing to the process's standard
// error, on every path that stops the decoder: klauspost's runDecoder has println calls
// where it stops a frame past its limit ("maxDecodedSize exceeded"), past its buffer
// ("cap exceeded") or past its announced size ("FrameContentSize exceeded"), but they
// call its package's own println, which logs only where its debug constants are set (they
// are false). The bombs are refused in a subprocess whose standard error is a pipe: by the
// header walk (RLE blocks), counted as a stream (a 1 MiB window under an 8 MiB cap), by
// the decoder limited to what is left (the same under a 1 MiB cap), under a narrowed
// window (a 128 MiB window), and frames announcing less than they make around the exact
// buffer; a control subprocess whose builtin println writes to that pipe shows the pipe
// sees such a line.
func TestZstdBombsPrintNothing(t *testing.T) {
	switch os.Getenv(zstdStderrChild) {
	case "bombs":
		refuseZstdBombs(t)
		return
	case "control":
		println("zstd stderr control line")
		return
	}
	for _, mode := range []string{"bombs", "control"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestZstdBombsPrintNothing$", "-test.count=1")
		cmd.Env = append(os.Environ(), zstdStderrChild+"="+mode)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s subprocess: %v\nstdout:\n%s\nstderr:\n%s", mode, err, stdout.String(), stderr.String())
		}
		switch {
		case mode == "control" && !strings.Contains(stderr.String(), "zstd stderr control line"):
			t.Fatalf("the control subprocess's standard error %q lacks its line: the pipe does not see println", stderr.String())
		case mode == "bombs" && stderr.Len() != 0:
			t.Errorf("refusing zstd bombs wrote to standard error:\n%s", stderr.String())
		}
	}
}

// refuseZstdBombs decodes the bombs TestZstdBombsPrintNothing names, each refused as it
// should be.
func refuseZstdBombs(t *testing.T) {
	type bombCase struct {
		name  string
		msg   []byte
		limit int
		want  error
	}
	const mib = 1 << 20
	small := streamedZstdWindow(t, 64*mib, mib)
	cases := []bombCase{
		{"RLE blocks of 8 MiB, refused by the header walk", rleZstdFrame(8 * mib), mib, ErrDecompressedTooLarge},
		{"64 MiB with a 1 MiB window under 8 MiB, counted as a stream", small, 8 * mib, ErrDecompressedTooLarge},
		{"64 MiB with a 1 MiB window under 1 MiB, the decoder limited", small, mib, ErrDecompressedTooLarge},
		{"64 MiB with a 128 MiB window under 1 MiB, narrowed", window128MiB(t, small), mib, ErrDecompressedTooLarge},
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(false))
	if err != nil {
		t.Fatal(err)
	}
	frame := enc.EncodeAll(sessionPayload(4*mib, 3), nil)
	exact := uint32(8*mib/8 - 2*zstdMaxBlock) // zstdExactIsSafe's largest under 8 MiB
	for _, announced := range []uint32{exact, exact + 1, 1000} {
		forged := bytes.Clone(frame)
		binary.LittleEndian.PutUint32(forged[6:], announced)
		cases = append(cases, bombCase{"4 MiB announcing less", forged, 8 * mib, nil})
	}
	for _, c := range cases {
		z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: c.limit})
		_, err := z.codec.decompress(c.msg, c.limit)
		if c.want != nil && !errors.Is(err, c.want) || c.want == nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrDecompressedTooLarge) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
