package main

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/internal/javapeer"
)

func TestMedianRows(t *testing.T) {
	boom := errors.New("boom")
	row := func(goRate, javaRate float64, goErr error) []benchRow {
		return []benchRow{{size: 64, receivers: 4, mode: "sync", goErr: goErr,
			goRes: sendResult{MsgsPerSec: goRate}, javaRes: javapeer.BenchResult{MsgsPerSec: javaRate}}}
	}
	got := medianRows([][]benchRow{row(5, 2, nil), row(1, 9, boom), row(3, 4, nil)})
	if len(got) != 1 {
		t.Fatalf("%d rows", len(got))
	}
	r := got[0]
	if r.goRes.MsgsPerSec != 3 || r.javaRes.MsgsPerSec != 4 || r.size != 64 || r.receivers != 4 || r.mode != "sync" {
		t.Fatalf("median row %+v", r)
	}
	if !errors.Is(r.goErr, boom) || r.javaErr != nil {
		t.Fatalf("errors: go %v, java %v", r.goErr, r.javaErr)
	}
}

func TestBenchRejectsNegativeReceiverProcs(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runBench(context.Background(), []string{"--java", "off", "--receiver-procs", "-1"}, &out, &errOut)
	if !errors.Is(err, errUsage) {
		t.Fatalf("err = %v, want errUsage", err)
	}
}
