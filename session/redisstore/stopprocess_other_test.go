//go:build !unix

package redisstore_test

import (
	"errors"
	"os"
)

// canStopProcesses is false: there is no SIGSTOP here, and the tests that stop Redis skip.
const canStopProcesses = false

// stopProcess fails: there is no SIGSTOP here.
func stopProcess(*os.Process) error { return errors.ErrUnsupported }

// continueProcess fails: there is no SIGCONT here.
func continueProcess(*os.Process) error { return errors.ErrUnsupported }
