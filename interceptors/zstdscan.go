package interceptors

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// zstdMaxBlock is the most one zstd block expands to (Block_Maximum_Size is the smaller of
// this and the frame's window).
const zstdMaxBlock = 128 << 10

// zstdSizes is what a walk of the frame and block headers of a zstd message tells of its
// decompressed size without decoding it.
type zstdSizes struct {
	least uint64 // bytes it surely expands to, unless it is corrupt
	most  uint64 // bytes it expands to at most, unless it is corrupt
	// over is how far the decoder's output may run past most before it notices: a frame
	// announcing its content size is checked against it after each block, so a lying
	// frame may add up to one block.
	over uint64
	// window is the largest window of its frames without a content size.
	window uint64
}

// zstdFrame is one frame of a message as its headers tell it.
type zstdFrame struct {
	h           zstd.Header
	n           int    // the frame's bytes in the message
	least, most uint64 // what it expands to, as zstdSizes
	over        uint64
}

// scanZstd walks the frames of src and the headers of their blocks (raw and RLE blocks
// give their size, a compressed block expands to at most its frame's maximum block size,
// a frame's announced content size is exact as the decoder checks it) and stops as soon as
// the bytes src surely expands to pass maxLen. It reads no block's content, so it costs
// nothing however much the message claims; the decoder still checks everything it skips.
func scanZstd(src []byte, maxLen int) (zstdSizes, error) {
	var s zstdSizes
	if len(src) == 0 {
		return s, fmt.Errorf("%w: an empty zstd message", ErrCorrupt)
	}
	for frames := 0; len(src) > 0; frames++ {
		f, err := nextZstdFrame(src, frames, uint64(maxLen)-min(s.least, uint64(maxLen)))
		if err != nil {
			return s, err
		}
		s.least, s.most, s.over = s.least+f.least, s.most+f.most, max(s.over, f.over)
		if !f.h.HasFCS && !f.h.Skippable {
			s.window = max(s.window, f.h.WindowSize)
		}
		if s.least > uint64(maxLen) {
			return s, fmt.Errorf("%w: zstd frames announce more than %d bytes", ErrDecompressedTooLarge, maxLen)
		}
		src = src[f.n:]
	}
	return s, nil
}

// nextZstdFrame walks the frame at the start of src, the frames-th of its message, and
// refuses it as soon as the bytes it surely expands to pass room. A frame that names a
// dictionary is refused: the interceptor has none (its encoder uses none), and the
// decoder could not decode it; so is one declaring a window past zstdMaxWindow.
func nextZstdFrame(src []byte, frames int, room uint64) (zstdFrame, error) {
	var f zstdFrame
	h := &f.h
	if err := h.Decode(src); err != nil {
		return f, fmt.Errorf("%w: zstd frame %d header: %w", ErrCorrupt, frames, err)
	}
	if h.Skippable {
		n := uint64(h.HeaderSize) + uint64(h.SkippableSize)
		if n > uint64(len(src)) {
			return f, fmt.Errorf("%w: zstd skippable frame %d cut short", ErrCorrupt, frames)
		}
		f.n = int(n)
		return f, nil
	}
	if h.DictionaryID != 0 {
		return f, fmt.Errorf("%w: zstd frame %d names dictionary %d, and the interceptor has none: %w",
			ErrCorrupt, frames, h.DictionaryID, zstd.ErrUnknownDictionary)
	}
	if !h.SingleSegment && h.WindowSize > zstdMaxWindow {
		// Both decoders refuse such a window, but a frame decoded under a narrowed
		// window (zstdNarrowWindow) would not get to them with it: refused here, on
		// every path alike.
		return f, fmt.Errorf("%w: zstd frame %d declares a window of %d bytes, more than the %d an encoder writes (zstd --long=31): %w",
			ErrCorrupt, frames, h.WindowSize, uint64(zstdMaxWindow), zstd.ErrWindowSizeExceeded)
	}
	if h.HasFCS && h.FrameContentSize > room {
		return f, fmt.Errorf("%w: zstd frame %d announces %d bytes, %d left under the limit", ErrDecompressedTooLarge, frames, h.FrameContentSize, room)
	}
	window := h.WindowSize
	if h.SingleSegment {
		window = max(h.FrameContentSize, zstd.MinWindowSize)
	}
	blockMax := min(window, zstdMaxBlock)
	p := uint64(h.HeaderSize)
	var least, most uint64
	for last := false; !last; {
		if uint64(len(src))-p < 3 {
			return f, fmt.Errorf("%w: zstd frame %d: a block header cut short", ErrCorrupt, frames)
		}
		bh := uint64(src[p]) | uint64(src[p+1])<<8 | uint64(src[p+2])<<16
		p += 3
		last = bh&1 != 0
		size := bh >> 3
		in := size // the block's bytes in src
		switch bh >> 1 & 3 {
		case 0: // raw
			least, most = least+size, most+size
		case 1: // RLE: one byte repeated size times
			least, most, in = least+size, most+size, 1
		case 2: // compressed: size bytes in, at most a whole block out
			most += blockMax
		default:
			return f, fmt.Errorf("%w: zstd frame %d: a reserved block type", ErrCorrupt, frames)
		}
		if size > blockMax {
			return f, fmt.Errorf("%w: zstd frame %d: a block of %d bytes, most %d", ErrCorrupt, frames, size, blockMax)
		}
		if uint64(len(src))-p < in {
			return f, fmt.Errorf("%w: zstd frame %d: a block cut short", ErrCorrupt, frames)
		}
		p += in
		if least > room {
			return f, fmt.Errorf("%w: zstd blocks of more than %d bytes", ErrDecompressedTooLarge, room)
		}
	}
	if h.HasCheckSum {
		if uint64(len(src))-p < 4 {
			return f, fmt.Errorf("%w: zstd frame %d: checksum cut short", ErrCorrupt, frames)
		}
		p += 4
	}
	if h.HasFCS {
		fcs := h.FrameContentSize
		if fcs < least || fcs > most {
			return f, fmt.Errorf("%w: zstd frame %d announces %d bytes, its blocks make %d to %d", ErrCorrupt, frames, fcs, least, most)
		}
		f.over = min(most-fcs, blockMax)
		least, most = fcs, fcs
	}
	f.n, f.least, f.most = int(p), least, most
	return f, nil
}
