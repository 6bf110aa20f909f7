package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// bench --java takes "auto (if installed), on, off". Any other value ("yes", "true", a typo
// of "on") is a usage error naming --java, like a bad --engine or --modes (it was taken as
// off: the bench ran for minutes without the Java side the user asked for).
// The context has ended, so that the bench, if it goes on, stops at its first child process.
func TestBenchRejectsUnknownJavaValue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, v := range []string{"yes", "true", "onn"} {
		var out, errOut bytes.Buffer
		err := runBench(ctx, []string{"--java", v, "--sizes", "64", "--modes", "none", "--fanout", "0", "--seconds", "1"}, &out, &errOut)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--java") {
			t.Errorf("bench --java %s: err %v; want a usage error about --java", v, err)
		}
	}
}

// bench --concurrency is passed to every "tribesdemo send" child as its --concurrency, which
// must be >= 1: bench refuses 0 or a negative value as a usage error before it starts
// anything (unchecked, it ran the whole matrix, every Go row failing with the child's usage
// error, and only then exited 1).
func TestBenchRejectsBadConcurrency(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, v := range []string{"0", "-3"} {
		var out, errOut bytes.Buffer
		err := runBench(ctx, []string{"--java", "off", "--concurrency", v, "--sizes", "64", "--modes", "none", "--fanout", "0", "--seconds", "1"}, &out, &errOut)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--concurrency") {
			t.Errorf("bench --concurrency %s: err %v; want a usage error about --concurrency", v, err)
		}
	}
}
