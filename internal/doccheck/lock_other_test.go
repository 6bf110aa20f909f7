//go:build !unix

package doccheck

import "testing"

// lockMachine does nothing where there is no flock: run one documentation test at a time.
func lockMachine(*testing.T) {}
