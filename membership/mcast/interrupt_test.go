package mcast

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"testing"
	"time"
)

// TestInterruptBeforeReadPacket: Stop of the receiver interrupts the socket, but the
// receive loop may be between computing its deadline and calling ReadPacket, which sets
// that deadline. The interrupt must not be undone by it: ReadPacket returns at once, not
// at the deadline (up to SoTimeout, or DropTime/4), which Stop would wait for.
// TestLoopbackReceiverRestart checks that a receiver started again reads as before.
func TestInterruptBeforeReadPacket(t *testing.T) {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", t.Name(), os.Getpid())
	v := h.Sum32()
	cfg := DefaultLocalConfig()
	cfg.Address = fmt.Sprintf("228.%d.%d.%d", 100+v%100, (v>>8)%256, 1+(v>>16)%250)
	cfg.Port = 20000 + int(v>>3)%25000
	st, err := cfg.normalize()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := openUDP(&st)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ic := conn.(interruptible)
	buf := make([]byte, MaxPacketSize)

	ic.Interrupt() // Stop, between the loop's deadline and its ReadPacket
	res := make(chan error, 1)
	start := time.Now()
	go func() {
		_, _, err := conn.ReadPacket(buf, time.Now().Add(time.Minute))
		res <- err
	}()
	bound := time.NewTimer(10 * time.Second) // a bound on the wait, far below the deadline
	defer bound.Stop()
	select {
	case err := <-res:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("interrupted read: %v", err)
		}
		t.Logf("interrupted read returned after %v", time.Since(start))
	case <-bound.C:
		_ = conn.Close() // ends the read
		<-res
		t.Fatal("a read after Interrupt waited for its own deadline (a minute)")
	}
}
