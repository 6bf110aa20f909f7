package wire

import (
	"bytes"
	"errors"
	"testing"
)

// frameErrs are the sentinels PeekFrameLen and ParseFrame wrap.
var frameErrs = []error{ErrBadStartMarker, ErrBadEndMarker, ErrNegativeLength, ErrFrameTooLarge}

func sentinel(err error) error {
	for _, s := range frameErrs {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// FuzzPeekFrameLen checks that PeekFrameLen, which a reader trusts to size its wait for
// a frame's bytes, agrees with ParseFrame on every input: the same length for a whole
// frame, the same error for a bad header, "wait" exactly while ParseFrame waits, and
// never a length above the cap.
func FuzzPeekFrameLen(f *testing.F) {
	f.Add(mustHex(f, specFrameHex), 1<<16)
	f.Add(golden(f, "frame_channeldata_empty.hex"), 0)
	f.Add(AckFrame, 3)
	f.Add(AckFrame[:FrameHeaderLen], 2)
	f.Add([]byte("FLT2002\xff\xff\xff\xff"), 1<<16)
	f.Add([]byte("FLT2002\x7f\xff\xff\xff"), -1)
	f.Add([]byte("FLT20"), 1<<16)
	f.Fuzz(func(t *testing.T, in []byte, maxBody int) {
		if maxBody > 1<<20 {
			maxBody = 1 << 20 // a cap below the default, so that the length check is reached
		}
		l, perr := PeekFrameLen(in, maxBody)
		body, n, err := ParseFrame(in, maxBody)
		capBody := maxBody
		if capBody <= 0 {
			capBody = DefaultMaxFrameSize
		}
		switch {
		case perr != nil:
			if l != 0 {
				t.Fatalf("error %v with length %d", perr, l)
			}
			if err == nil || sentinel(err) != sentinel(perr) {
				t.Fatalf("PeekFrameLen: %v; ParseFrame: %v", perr, err)
			}
		case l == 0: // too short to tell
			if len(in) >= FrameHeaderLen || err != nil || n != 0 {
				t.Fatalf("no length for %d bytes; ParseFrame: %d, %v", len(in), n, err)
			}
		default:
			if l < FrameOverhead || l > FrameLen(capBody) {
				t.Fatalf("length %d outside [%d, %d]", l, FrameOverhead, FrameLen(capBody))
			}
			switch {
			case len(in) < l:
				if err != nil || n != 0 {
					t.Fatalf("%d of %d bytes: ParseFrame %d, %v, want a wait", len(in), l, n, err)
				}
			case err != nil:
				if !errors.Is(err, ErrBadEndMarker) {
					t.Fatalf("whole frame of %d bytes: %v", l, err)
				}
			case n != l || !bytes.Equal(AppendFrame(nil, body), in[:n]):
				t.Fatalf("ParseFrame used %d bytes, PeekFrameLen said %d", n, l)
			}
		}
	})
}
