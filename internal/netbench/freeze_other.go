//go:build !unix

package netbench

import "errors"

// errFreeze is Freeze's and Thaw's error: stopping a process needs a Unix signal.
var errFreeze = errors.New("netbench: freezing a process needs Unix (SIGSTOP, SIGCONT)")

// Freeze fails: it needs SIGSTOP.
func (p *Proc) Freeze() error { return errFreeze }

// Thaw fails: it needs SIGCONT.
func (p *Proc) Thaw() error { return errFreeze }
