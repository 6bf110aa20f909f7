//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/gotribes/tribes/wire"
)

// captureFrames needs a Linux packet socket.
func captureFrames(context.Context, int, wire.UniqueID, int) ([][]byte, error) {
	return nil, errors.New("capturing frames needs Linux (AF_PACKET)")
}
