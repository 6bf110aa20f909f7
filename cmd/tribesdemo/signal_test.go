package main

import (
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Ctrl-C twice must end the program: main stops catching SIGINT and SIGTERM once the first
// one cancelled the context (when its stop was only deferred to main's end, every further
// Ctrl-C was swallowed while a command finished what was under way). load (and rtt) let
// the sends under way finish on a context the interrupt does not cancel, bounded only by
// --ack-timeout: against a member that accepts the connection but never acknowledges,
// "load --ack-timeout 1h" could then only be stopped with SIGKILL.
func TestRepeatedInterruptEndsLoad(t *testing.T) {
	bin := buildDemo(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // held open, never read, never answered: no ACK ever comes
		}
	}()
	defer func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	}()
	member := fmt.Sprintf("127.0.0.1:%d:000102030405060708090a0b0c0d0e0f", ln.Addr().(*net.TCPAddr).Port)
	cmd := exec.Command(bin, "load", "--port", "0", "--static", member, "--count", "1", "--ack-timeout", "1h", "--json")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	select { // the send is under way once its connection is accepted
	case <-accepted:
	case err := <-exited:
		t.Fatalf("load exited before sending: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("load did not connect within 30 s")
	}
	// Interrupt it again and again, as a user at a terminal would, for at most 10 s.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for {
		if err := cmd.Process.Signal(syscall.SIGINT); err == nil {
			sent++
		}
		select {
		case err := <-exited:
			t.Logf("load ended after %d SIGINTs: %v", sent, err)
			return
		case <-deadline:
			t.Fatalf("load still runs after %d SIGINTs in 10 s: further interrupts are swallowed while a send waits for its ACK", sent)
		case <-tick.C:
		}
	}
}
