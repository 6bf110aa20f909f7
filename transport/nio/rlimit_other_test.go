//go:build !unix

package nio

import "errors"

// canLowerDescriptorLimit is false: there is no RLIMIT_NOFILE here, and the
// descriptor-exhaustion tests skip.
const canLowerDescriptorLimit = false

// lowerDescriptorLimit fails: there is no RLIMIT_NOFILE here.
func lowerDescriptorLimit() error { return errors.ErrUnsupported }

// raiseDescriptorLimit fails: there is no RLIMIT_NOFILE here.
func raiseDescriptorLimit() error { return errors.ErrUnsupported }

// canRaiseDescriptorLimit is false: there is no RLIMIT_NOFILE here.
func canRaiseDescriptorLimit() bool { return false }
