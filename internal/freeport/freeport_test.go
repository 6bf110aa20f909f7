package freeport

import (
	"net"
	"runtime"
	"strconv"
	"testing"
)

func TestPickIsFreeDistinctAndOutsideTheEphemeralRange(t *testing.T) {
	for _, nw := range []Network{TCP, UDP, TCP | UDP} {
		ports, release, err := Pick(20, nw)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := ephemeralRange()
		seen := map[int]bool{}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("network %d: port %d picked twice: %v", nw, p, ports)
			}
			seen[p] = true
			if lo != 0 && p >= lo && p <= hi {
				t.Errorf("network %d: port %d is in the ephemeral range %d-%d", nw, p, lo, hi)
			}
			if !free(p, nw, []string{"127.0.0.1"}) {
				t.Errorf("network %d: port %d cannot be bound after Pick", nw, p)
			}
		}
		release()
	}
}

func TestPickOnSeveralAddresses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("127.0.0.2 is a loopback address on Linux only")
	}
	ports, release, err := Pick(3, TCP, "127.0.0.1", "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, p := range ports {
		for _, a := range []string{"127.0.0.1", "127.0.0.2"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d on %s: %v", p, a, err)
			}
			ln.Close()
		}
	}
}

// A port reserved by one Pick is not given out again until its release, even though
// nothing is bound to it; this is what keeps two test processes apart.
func TestPickReservesUntilRelease(t *testing.T) {
	ports, release, err := Pick(1, TCP)
	if err != nil {
		t.Fatal(err)
	}
	var other reservation
	if other.reserve(ports[0]) {
		t.Fatalf("port %d reserved twice", ports[0])
	}
	if _, err := other.pickIn(ports[0], ports[0], TCP, []string{"127.0.0.1"}); err == nil {
		t.Fatalf("pickIn returned the reserved port %d", ports[0])
	}
	release()
	if !other.reserve(ports[0]) {
		t.Fatalf("port %d still reserved after release", ports[0])
	}
	other.release()
}

func TestPickSkipsABoundPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	var r reservation
	defer r.release()
	lo := taken
	if taken == maxPort {
		lo = taken - 1
	}
	p, err := r.pickIn(lo, lo+1, TCP, []string{"127.0.0.1"})
	if err != nil {
		t.Skipf("the port next to %d is taken too: %v", taken, err)
	}
	if p == taken {
		t.Fatalf("picked the bound port %d", taken)
	}
}

func TestPickKernelFallback(t *testing.T) {
	var r reservation
	defer r.release()
	for _, nw := range []Network{TCP, UDP, TCP | UDP} {
		p, err := r.pickKernel(nw, []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		r.ports = append(r.ports, p)
		if !free(p, nw, []string{"127.0.0.1"}) {
			t.Errorf("network %d: port %d cannot be bound", nw, p)
		}
	}
}

func TestPickArguments(t *testing.T) {
	if ports, release, err := Pick(0, TCP); err != nil || len(ports) != 0 {
		t.Fatalf("Pick(0) = %v, %v", ports, err)
	} else {
		release()
	}
	if _, _, err := Pick(1, 0); err == nil {
		t.Fatal("Pick with no network: no error")
	}
}

func TestSpareRange(t *testing.T) {
	for _, c := range []struct {
		lo, hi, from, to int
		ok               bool
	}{
		{32768, 60999, 20000, 32767, true}, // Linux's default
		{49152, 65535, 20000, 49151, true}, // the IANA range
		{1024, 65535, 0, 0, false},         // no room
		{1024, 40000, 40001, 65535, true},  // room above only
		{21000, 64000, 0, 0, false},        // too little either side
		{0, 0, 0, 0, false},                // unknown
	} {
		from, to, ok := spare(c.lo, c.hi)
		if from != c.from || to != c.to || ok != c.ok {
			t.Errorf("spare(%d, %d) = %d, %d, %v; want %d, %d, %v", c.lo, c.hi, from, to, ok, c.from, c.to, c.ok)
		}
	}
}

func TestParseRange(t *testing.T) {
	for s, want := range map[string][2]int{
		"32768\t60999\n": {32768, 60999},
		"1024 65535":     {1024, 65535},
		"":               {0, 0},
		"5 4":            {0, 0},
		"1 2 3":          {0, 0},
		"x 60999":        {0, 0},
		"1024 70000":     {0, 0},
	} {
		lo, hi := parseRange(s)
		if lo != want[0] || hi != want[1] {
			t.Errorf("parseRange(%q) = %d, %d; want %v", s, lo, hi, want)
		}
	}
}

func TestStrideVisitsEveryPort(t *testing.T) {
	for _, size := range []int{1, 2, 7919, 12768, 15536} {
		s := stride(size)
		seen := make(map[int]bool, size)
		for i := range size {
			seen[(i*s)%size] = true
		}
		if len(seen) != size {
			t.Errorf("size %d, stride %d: %d of %d ports visited", size, s, len(seen), size)
		}
	}
}
