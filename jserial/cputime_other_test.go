//go:build !unix

package jserial

// processCPU is not measured here.
func processCPU() int64 { return 0 }
