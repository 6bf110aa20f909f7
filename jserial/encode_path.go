package jserial

import (
	"strconv"
	"strings"

	"github.com/gotribes/tribes/internal/clip"
)

// The path an encoder's error names (pathError) keeps its pathHead outermost and
// pathTail innermost steps, and at most maxPathHead and maxPathTail bytes of their text
// (class names may be long).
const (
	pathHead, pathTail       = 8, 8
	maxPathHead, maxPathTail = 512, 256
)

// pathError is an encoder's error with the path to the value that failed (a field as
// "Class.field", a primitive array's class), gathered step by step on the way out
// without formatting it anew at each level, and clipped to its ends when written: an
// object chain deeper than MaxDepth named its 1000 fields, 19 KB formatted 1000 times
// (TestEncoderErrorPathClipped).
type pathError struct {
	steps []string // innermost first
	err   error
	// open: the encoding that made it still returns it, and adds its steps to it;
	// closed, it is a finished error that another encoding wraps in its own.
	open bool
}

func (e *pathError) Unwrap() error { return e.err }

func (e *pathError) Error() string {
	var b strings.Builder
	n := len(e.steps)
	for i := n - 1; i >= 0; i-- {
		if n > pathHead+pathTail && i == n-1-pathHead {
			b.WriteString("… ")
			b.WriteString(strconv.Itoa(n - pathHead - pathTail))
			b.WriteString(" more fields …: ")
			i = pathTail
			continue
		}
		b.WriteString(e.steps[i])
		b.WriteString(": ")
	}
	return clip.Ends(b.String(), maxPathHead, maxPathTail) + e.err.Error()
}

// inPath returns err, the error of the value at step, with step added to its path.
func inPath(step string, err error) error {
	if pe, ok := err.(*pathError); ok && pe.open {
		pe.steps = append(pe.steps, step)
		return pe
	}
	return &pathError{steps: []string{step}, err: err, open: true}
}

// closePath ends the path of err, an encoding's error it returns.
func closePath(err error) error {
	if pe, ok := err.(*pathError); ok {
		pe.open = false
	}
	return err
}
