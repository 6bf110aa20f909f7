package interceptors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/compress/zstd"
)

// zstdFCSField is the room zstdNarrowWindow leaves past the copy it makes, for
// recheckNarrowed's content size field (Frame_Content_Size_Flag 3: 8 bytes).
const zstdFCSField = 8

// zstdNarrowWindow returns frame, which has no content size and a window larger than
// least (so a Window_Descriptor byte after its Frame_Header_Descriptor), as a copy naming
// the smallest window its header can name of at least least, when that is smaller than
// window, and the window it names. Matches reach back at most what the frame made, so its
// content decodes the same under that window while it is within least; a match reaching
// further comes after the frame made more than least, in the block that fails there
// (recheckNarrowed tells that from a corrupt block). The Window_Descriptor is 5 bits of
// exponent and 3 of mantissa: 2^(10+e) × (1 + m/8), so the window chosen is at most an
// eighth more than least.
func zstdNarrowWindow(frame []byte, window, least uint64) ([]byte, uint64) {
	w, desc := zstdNamedWindow(least)
	if w >= window {
		return frame, window
	}
	out := make([]byte, len(frame), len(frame)+zstdFCSField)
	copy(out, frame)
	out[5] = desc
	return out, w
}

// zstdNamedWindow returns the smallest window a Window_Descriptor names of at least
// least, and that descriptor; math.MaxUint64 past the largest.
func zstdNamedWindow(least uint64) (uint64, byte) {
	for e := range uint64(32) {
		base := uint64(1) << (10 + e)
		for m := range uint64(8) {
			if w := base + base/8*m; w >= least {
				return w, byte(e<<3 | m)
			}
		}
	}
	return math.MaxUint64, 0
}

// recheckNarrowed answers for frame, a copy zstdNarrowWindow made of a frame whose own
// Window_Descriptor is desc and whose header (without a content size) is hs bytes, which
// d, decoding it into out after out[:start], failed (failed) in a block that may end past
// the narrowed window, left bytes being left under the cap. It answers as the frame's own
// window would, the cap checked after each block: a frame making more than left is too
// large; one failing under its own window is corrupt; one within left is returned whole
// (out with its content), whatever failed under the narrowed window (a match past it, or
// a compressed block larger than a narrowed window under a block, whose content is not:
// legal, if no encoder known writes it). The blocks before the one that failed made
// made = len(out)-start bytes: past left, the frame is too large. Otherwise it is decoded
// again from its start, under its own window, with a content size of left written in its
// header (in the room zstdNarrowWindow left past the copy), so that the decoder stops
// after the first block that makes anything past left; that output is within what
// decodeCapped made room for (the narrowed window, at least left, and a block). A frame
// ending short of left fails that decode only for its size (its checksum unchecked): it
// is decoded a third time with its own size written, which checks the checksum.
func recheckNarrowed(d *zstd.Decoder, frame []byte, desc byte, hs int, out []byte, start int, left uint64, frames int, failed error) ([]byte, error) {
	made := uint64(len(out) - start)
	if made > left {
		return nil, fmt.Errorf("%w: zstd frame %d made %d bytes, %d left under the limit, and then failed: %w",
			ErrDecompressedTooLarge, frames, made, left, failed)
	}
	n := len(frame)
	if cap(frame)-n < zstdFCSField { // zstdNarrowWindow's copies have it: a guard for other callers
		return nil, fmt.Errorf("%w: zstd frame %d: no room to recheck it: %w", ErrCorrupt, frames, failed)
	}
	// Frame_Content_Size_Flag 3: 8 bytes at the end of the header, after the
	// Window_Descriptor and any Dictionary_ID field (of 0: nextZstdFrame refuses others).
	frame = frame[:n+zstdFCSField]
	copy(frame[hs+zstdFCSField:], frame[hs:n])
	frame[4] |= 3 << 6
	frame[5] = desc
	// The largest window a frame may have (zstdMaxWindow, the capped decoder's) takes a
	// limit of at least itself; the content size stops the decoder.
	if err := d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(1<<63)); err != nil {
		return nil, fmt.Errorf("%w: zstd frame %d: %w", ErrCorrupt, frames, err)
	}
	size := left
	for {
		binary.LittleEndian.PutUint64(frame[hs:], size)
		got, err := d.DecodeAll(frame, out[:start])
		switch {
		case err == nil:
			return got, nil
		case errors.Is(err, zstd.ErrFrameSizeExceeded):
			return nil, fmt.Errorf("%w: zstd frame %d made %d bytes, %d left under the limit", ErrDecompressedTooLarge, frames, len(got)-start, left)
		case errors.Is(err, zstd.ErrFrameSizeMismatch) && size == left && uint64(len(got)-start) < left:
			// The frame ended within left: its size is known, its checksum is not checked.
			size = uint64(len(got) - start)
		default:
			return nil, fmt.Errorf("%w: zstd frame %d, decoded under its own window: %w", ErrCorrupt, frames, err)
		}
	}
}
