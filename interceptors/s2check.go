package interceptors

// s2BlockLen walks the tags of an S2 block's body (after its length header) without
// writing their output, and returns how many bytes they produce, or false when a tag
// is cut short, a literal runs past the end, or a copy reaches before the start or
// repeats an offset never given. It stops as soon as the output would pass limit. The
// decoder allocates the length the header announces: checking it against the tags first
// keeps a few bytes announcing megabytes from costing those megabytes.
func s2BlockLen(src []byte, limit int) (int, bool) {
	out, offset := 0, 0
	for len(src) > 0 {
		tag := src[0]
		var length int
		switch tag & 3 {
		case 0: // literal: the length-1 in the tag's top 6 bits, or in 1-4 bytes after
			n := int(tag >> 2)
			src = src[1:]
			if n >= 60 {
				extra := n - 59
				if len(src) < extra {
					return 0, false
				}
				n = 0
				for i := extra - 1; i >= 0; i-- {
					n = n<<8 | int(src[i])
				}
				src = src[extra:]
			}
			length = n + 1
			if length > len(src) || length > limit-out {
				return 0, false
			}
			src = src[length:]
			out += length
			continue
		case 1: // copy with an 11-bit offset; offset 0 repeats the last one, longer
			if len(src) < 2 {
				return 0, false
			}
			length = int(tag>>2) & 7
			off := int(tag&0xe0)<<3 | int(src[1])
			src = src[2:]
			if off != 0 {
				offset, length = off, length+4
				break
			}
			var extra int // a repeat's length: 4-8 in the tag, or in 1-3 bytes after it
			switch length {
			case 5:
				extra = 1
			case 6:
				extra = 2
			case 7:
				extra = 3
			}
			if len(src) < extra {
				return 0, false
			}
			switch extra {
			case 1:
				length = int(src[0]) + 4
			case 2:
				length = int(src[0]) | int(src[1])<<8 + 1<<8
			case 3:
				length = int(src[0]) | int(src[1])<<8 | int(src[2])<<16 + 1<<16
			}
			src = src[extra:]
			length += 4
		case 2: // copy with a 16-bit offset
			if len(src) < 3 {
				return 0, false
			}
			length, offset = int(tag>>2)+1, int(src[1])|int(src[2])<<8
			src = src[3:]
		case 3: // copy with a 32-bit offset
			if len(src) < 5 {
				return 0, false
			}
			length = int(tag>>2) + 1
			offset = int(src[1]) | int(src[2])<<8 | int(src[3])<<16 | int(src[4])<<24
			src = src[5:]
		}
		if offset <= 0 || offset > out || length > limit-out {
			return 0, false
		}
		out += length
	}
	return out, true
}
