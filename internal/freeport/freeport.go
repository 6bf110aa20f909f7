// Package freeport picks ports for servers that are started in other processes (a Java
// peer, Tomcat, Redis, a node of this project) and bind their port a moment after it was
// picked.
//
// Asking the kernel for port 0 and closing the listener again, the usual way, leaves a
// window in which the port can be taken before its server binds it: the kernel gives
// outgoing connections any free port of its ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), and other tests running at the same time make
// plenty of them. So Pick chooses ports below that range (or above it, if there is more
// room there), where no outgoing connection can land, and reserves each port it returns
// against the other processes that use this package (a lock on a file per port in the
// system's temporary directory) until its release function is called or the process
// ends. Where neither is possible (a system that is not Linux, an ephemeral range that
// leaves no room), it falls back to the kernel's pick.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Network says what a port must be free for.
type Network int

const (
	TCP Network = 1 << iota
	UDP
)

// Bounds of the ports Pick chooses from outside the ephemeral range: none below minPort
// (well-known and registered services: Tomcat's 8080, Redis's 6379, ...), and a range
// that leaves fewer than minRoom ports is not used.
const (
	minPort = 20000
	maxPort = 65535
	minRoom = 2000
)

// probes bounds the ports Pick tries for each one it returns.
const probes = 200

// LockDir is the directory of the reservations' lock files.
var LockDir = filepath.Join(os.TempDir(), "gotribes-ports")

// Pick returns n distinct ports free a moment ago for network on every address of addrs
// (127.0.0.1 if none), and a function that ends their reservation (see the package
// documentation). The ports are not held open: a server of another process can bind them
// at once.
func Pick(n int, network Network, addrs ...string) ([]int, func(), error) {
	if n <= 0 {
		return nil, func() {}, nil
	}
	if network&(TCP|UDP) == 0 {
		return nil, nil, errors.New("freeport: no network (TCP, UDP or both)")
	}
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1"}
	}
	r := &reservation{}
	lo, hi, ok := spare(ephemeralRange())
	for len(r.ports) < n {
		var port int
		var err error
		if ok {
			port, err = r.pickIn(lo, hi, network, addrs)
		} else {
			port, err = r.pickKernel(network, addrs)
		}
		if err != nil {
			r.release()
			return nil, nil, err
		}
		r.ports = append(r.ports, port)
	}
	return r.ports, r.release, nil
}

type reservation struct {
	ports []int
	locks []*os.File
}

func (r *reservation) release() {
	for _, f := range r.locks {
		f.Close() // closing the file drops its lock
	}
	r.locks = nil
}

func (r *reservation) has(port int) bool {
	for _, p := range r.ports {
		if p == port {
			return true
		}
	}
	return false
}

// pickIn tries ports of [lo, hi] from a random start until one is free and reserved.
func (r *reservation) pickIn(lo, hi int, network Network, addrs []string) (int, error) {
	size := hi - lo + 1
	start := rand.IntN(size)
	for i := range min(probes, size) {
		port := lo + (start+i*stride(size))%size
		if r.has(port) || !free(port, network, addrs) {
			continue
		}
		if r.reserve(port) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("freeport: no free port in %d-%d after %d tries", lo, hi, min(probes, size))
}

// stride steps through a range of size ports in a scattered order (a step prime to size
// visits every port once).
func stride(size int) int {
	for _, s := range []int{7919, 104729, 1} {
		if gcd(s, size) == 1 {
			return s
		}
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pickKernel asks the kernel for a port (0) on the first address, then checks it on the
// others and for the other network.
func (r *reservation) pickKernel(network Network, addrs []string) (int, error) {
	var last error
	for range probes {
		port, err := kernelPort(network, addrs[0])
		if err != nil {
			return 0, err
		}
		if r.has(port) || !free(port, network, addrs) {
			last = fmt.Errorf("port %d taken", port)
			continue
		}
		if r.reserve(port) {
			return port, nil
		}
		last = fmt.Errorf("port %d reserved by another process", port)
	}
	return 0, fmt.Errorf("freeport: no free port from the kernel after %d tries: %w", probes, last)
}

func kernelPort(network Network, addr string) (int, error) {
	if network&TCP != 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return 0, fmt.Errorf("freeport: %w", err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// free reports whether port can be bound for network on every address now.
func free(port int, network Network, addrs []string) bool {
	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, a := range addrs {
		hp := net.JoinHostPort(a, strconv.Itoa(port))
		if network&TCP != 0 {
			ln, err := net.Listen("tcp", hp)
			if err != nil {
				return false
			}
			closers = append(closers, ln)
		}
		if network&UDP != 0 {
			c, err := net.ListenPacket("udp", hp)
			if err != nil {
				return false
			}
			closers = append(closers, c)
		}
	}
	return true
}

// reserve takes the lock of port's file, without waiting; false if another process (or
// another reservation of this one) holds it. Where locks are not available, every port
// counts as reserved.
func (r *reservation) reserve(port int) bool {
	if err := os.MkdirAll(LockDir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(LockDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true // not ours to create (another user's directory): no reservation
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return true
	}
	if !ok {
		f.Close()
		return false
	}
	r.locks = append(r.locks, f)
	return true
}

// ephemeralRange is the kernel's range of ports for outgoing connections, or 0, 0 if it
// cannot be read.
func ephemeralRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	return parseRange(string(b))
}

func parseRange(s string) (lo, hi int) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo <= 0 || hi < lo || hi > maxPort {
		return 0, 0
	}
	return lo, hi
}

// spare returns the larger of the ranges [minPort, lo) and (hi, maxPort] left by the
// ephemeral range [lo, hi], if it holds at least minRoom ports.
func spare(lo, hi int) (from, to int, ok bool) {
	if lo == 0 {
		return 0, 0, false
	}
	below, above := lo-minPort, maxPort-hi
	switch {
	case below >= above && below >= minRoom:
		return minPort, lo - 1, true
	case above > below && above >= minRoom:
		return hi + 1, maxPort, true
	}
	return 0, 0, false
}
