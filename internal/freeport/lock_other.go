//go:build !unix

package freeport

import (
	"errors"
	"os"
)

// tryLock: no file locks here, so no reservation (Pick still picks outside the ephemeral
// range where it can read it).
func tryLock(*os.File) (bool, error) { return false, errors.New("no file locks") }
