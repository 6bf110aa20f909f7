//go:build !unix

package nio

import "errors"

// socketBuffers is not implemented here: the buffers are not read back.
func socketBuffers(fd uintptr) (rcv, snd int, err error) { return 0, 0, errors.ErrUnsupported }
