// Package clip shortens a long text for an error message or a log line by keeping both
// of its ends: its beginning names what failed, and its end often tells why (the last
// fields of an encoder's path, the address a certificate is not valid for). jserial's
// encoder errors and membership/cloud's texts from a source's answers use it.
package clip

import "strings"

// Ellipsis stands for the bytes Ends leaves out.
const Ellipsis = "…"

// Ends returns s unchanged when it is at most head+tail bytes long; otherwise its first
// head bytes and its last tail bytes around Ellipsis, so at most head+tail bytes besides
// the Ellipsis. A rune cut in two at either cut becomes a '?', as does any run of invalid
// bytes in the parts kept, so that the result of a clipped valid text is valid UTF-8
// (TestEnds). A negative head or tail counts as 0, and sizes whose sum overflows an int
// leave s as it is (TestEndsHugeSizes).
func Ends(s string, head, tail int) string {
	head, tail = max(head, 0), max(tail, 0)
	if head >= len(s) || tail >= len(s)-head { // len(s) <= head+tail, without overflowing
		return s
	}
	return strings.ToValidUTF8(s[:head], "?") + Ellipsis + strings.ToValidUTF8(s[len(s)-tail:], "?")
}
