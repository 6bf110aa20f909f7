package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gotribes/tribes/internal/procfs"
)

// loadConfig is what the load role runs (passed as JSON in the environment).
type loadConfig struct {
	URL     string        // the counter page, e.g. http://127.0.0.1:8080/app/counter
	Conns   int           // connections, one session each
	Warmup  time.Duration // requests before this are not counted
	Measure time.Duration // then this long is counted
	// Pids are the server processes whose CPU time and context switches over the counted
	// time go into the result (this process's are added last).
	Pids []int
}

// session is a connection's session at the end of a load run.
type session struct {
	Cookie  string // name=value
	Counter int
}

// loadResult is what the load role prints as JSON.
type loadResult struct {
	Requests  int     // answered and counted (after the warm-up)
	Seconds   float64 // the counted time
	Errors    int     // failed requests (counted or not), wrong counters included
	FirstErr  string  `json:",omitempty"`
	Sessions  []session
	ReqPerSec float64
	// CPUPerReq and SwitchesPerReq are the CPU time (µs, user and system) and context
	// switches of each of loadConfig.Pids and of the load client (last), over the counted
	// time, per counted request.
	CPUPerReq      []float64
	SwitchesPerReq []float64
}

// errStop ends a connection's loop at the deadline.
var errStop = errors.New("stop")

// runLoad runs cfg.Conns connections that each request the counter page with their own
// session cookie (the one the first answer set, replaced when an answer sets another),
// keep-alive, one request at a time, and checks that every answer is 200 and its counter
// is one more than the previous one (1 at first).
//
// It speaks HTTP/1.1 on the socket itself rather than through net/http's client, which
// costs several times the CPU per request: on a machine of two cores the load client's
// CPU is taken from the servers.
func runLoad(cfg loadConfig) (loadResult, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return loadResult{}, err
	}
	start := time.Now()
	counted, end := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Measure)
	res := loadResult{Sessions: make([]session, cfg.Conns), Seconds: cfg.Measure.Seconds()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	pids := append(slices.Clone(cfg.Pids), os.Getpid())
	usage := make(chan []procUsage, 1)
	go func() {
		time.Sleep(time.Until(counted))
		before := sampleUsage(pids)
		time.Sleep(time.Until(end))
		usage <- subUsage(sampleUsage(pids), before)
	}()
	for i := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &conn{host: u.Host, path: u.RequestURI()}
			n, errs, err := c.run(counted, end)
			mu.Lock()
			defer mu.Unlock()
			res.Requests += n
			res.Errors += errs
			if err != nil && res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
			res.Sessions[i] = session{Cookie: c.cookie, Counter: c.counter}
		}()
	}
	wg.Wait()
	res.ReqPerSec = float64(res.Requests) / res.Seconds
	if res.Requests > 0 {
		for _, u := range <-usage {
			res.CPUPerReq = append(res.CPUPerReq, float64(u.cpu/time.Microsecond)/float64(res.Requests))
			res.SwitchesPerReq = append(res.SwitchesPerReq, float64(u.switches)/float64(res.Requests))
		}
	}
	return res, nil
}

// procUsage is a process's CPU time and context switches (-1 if unknown).
type procUsage struct {
	cpu      time.Duration
	switches int64
}

func sampleUsage(pids []int) []procUsage {
	out := make([]procUsage, len(pids))
	for i, pid := range pids {
		out[i] = procUsage{cpu: -1, switches: -1}
		if t, err := procfs.Stat(pid); err == nil {
			out[i].cpu = t.CPU()
		}
		if n, err := procfs.ContextSwitches(pid); err == nil {
			out[i].switches = int64(n)
		}
	}
	return out
}

func subUsage(after, before []procUsage) []procUsage {
	for i := range after {
		if before[i].cpu < 0 || after[i].cpu < 0 {
			after[i].cpu = 0
		} else {
			after[i].cpu -= before[i].cpu
		}
		if before[i].switches < 0 || after[i].switches < 0 {
			after[i].switches = 0
		} else {
			after[i].switches -= before[i].switches
		}
	}
	return after
}

// conn is one client connection with its session.
type conn struct {
	host, path string
	nc         net.Conn
	r          *bufio.Reader
	cookie     string // name=value, empty before the first answer
	counter    int    // the last counter read
	req        []byte
}

// run requests until end and returns the requests answered after counted, the errors,
// and the first error.
func (c *conn) run(counted, end time.Time) (n, errs int, first error) {
	defer func() {
		if c.nc != nil {
			c.nc.Close()
		}
	}()
	for {
		now := time.Now()
		if !now.Before(end) {
			return n, errs, first
		}
		err := c.do(end)
		switch {
		case err == nil:
			if !now.Before(counted) {
				n++
			}
		case errors.Is(err, errStop):
			return n, errs, first
		default:
			errs++
			if first == nil {
				first = err
			}
			// A broken connection is redialled; the session goes on with the cookie.
			if c.nc != nil {
				c.nc.Close()
				c.nc = nil
			}
		}
	}
}

// do sends one request and reads and checks its answer.
func (c *conn) do(end time.Time) error {
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.host, 5*time.Second)
		if err != nil {
			if time.Now().After(end) {
				return errStop
			}
			return err
		}
		c.nc, c.r = nc, bufio.NewReaderSize(nc, 4096)
	}
	c.req = c.req[:0]
	c.req = fmt.Appendf(c.req, "GET %s HTTP/1.1\r\nHost: %s\r\n", c.path, c.host)
	if c.cookie != "" {
		c.req = fmt.Appendf(c.req, "Cookie: %s\r\n", c.cookie)
	}
	c.req = append(c.req, "\r\n"...)
	// A server that stops answering fails the request some time after the run's end.
	_ = c.nc.SetDeadline(end.Add(10 * time.Second))
	if _, err := c.nc.Write(c.req); err != nil {
		return err
	}
	status, cookie, body, closing, err := readResponse(c.r)
	if err != nil {
		return err
	}
	if closing {
		// Tomcat closes a connection after maxKeepAliveRequests (100): dial again.
		c.nc.Close()
		c.nc = nil
	}
	if status != 200 {
		return fmt.Errorf("status %d: %s", status, bytes.TrimSpace(body))
	}
	if cookie != "" {
		c.cookie = cookie
	}
	fields := bytes.Fields(body)
	if len(fields) != 2 {
		return fmt.Errorf("answer %q: want \"id counter\"", body)
	}
	got, err := strconv.Atoi(string(fields[1]))
	if err != nil || got != c.counter+1 {
		return fmt.Errorf("counter %q after %d", fields[1], c.counter)
	}
	c.counter = got
	return nil
}

// maxBody bounds what readResponse accepts.
const maxBody = 64 << 10

// readResponse reads an HTTP/1.1 response: its status, the name=value of its first
// Set-Cookie (empty if none), its body (Content-Length or chunked) and whether the server
// closes the connection after it.
func readResponse(r *bufio.Reader) (status int, cookie string, body []byte, closing bool, err error) {
	line, err := readLine(r)
	if err != nil {
		return 0, "", nil, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, "", nil, false, fmt.Errorf("status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, "", nil, false, fmt.Errorf("status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err := readLine(r)
		if err != nil {
			return 0, "", nil, false, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, "", nil, false, fmt.Errorf("header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 || length > maxBody {
				return 0, "", nil, false, fmt.Errorf("content length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Set-Cookie")) && cookie == "":
			kv, _, _ := bytes.Cut(value, []byte(";"))
			cookie = string(kv)
		}
	}
	switch {
	case chunked:
		body, err = readChunked(r)
	case length >= 0:
		body = make([]byte, length)
		_, err = io.ReadFull(r, body)
	default:
		err = errors.New("answer without length")
	}
	return status, cookie, body, closing, err
}

func readChunked(r *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		hexSize, _, _ := bytes.Cut(line, []byte(";"))
		size, err := strconv.ParseInt(string(bytes.TrimSpace(hexSize)), 16, 32)
		if err != nil || size < 0 || len(body)+int(size) > maxBody {
			return nil, fmt.Errorf("chunk size %q", line)
		}
		if size == 0 {
			// Trailers, then the empty line.
			for {
				line, err := readLine(r)
				if err != nil {
					return nil, err
				}
				if len(line) == 0 {
					return body, nil
				}
			}
		}
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, err
		}
		body = append(body, chunk[:size]...)
	}
}

// readLine reads a line without its CRLF; lines longer than the reader's buffer are
// errors.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("line too long")
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}
