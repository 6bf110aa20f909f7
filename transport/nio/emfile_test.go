package nio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// emfileChildEnv makes the test binary run emfileChild instead of the tests.
const emfileChildEnv = "TRIBES_NIO_EMFILE_CHILD"

// emfileEngineEnv names the child's receiver engine.
const emfileEngineEnv = "TRIBES_NIO_EMFILE_ENGINE"

// A receiver whose process runs out of descriptors: accept fails with EMFILE. With
// EngineGnet gnet stops its engine; the transport reports the failure
// (channel.ErrReceiverFailed), restarts the engine on the same port once descriptors are
// free, and a send succeeds again. With EngineGoroutine (the default) the listener stays
// open and accept is retried with a back-off; the failure and the recovery are reported
// and counted the same way. The
// receiver runs in a child process with RLIMIT_NOFILE lowered and every descriptor taken.
func TestReceiverSurvivesDescriptorExhaustion(t *testing.T) {
	if inDescriptorChild(t, emfileChildEnv, emfileChild) {
		return
	}
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) { descriptorExhaustion(t, e) })
	}
}

// descriptorExhaustion runs TestReceiverSurvivesDescriptorExhaustion's child with engine e.
func descriptorExhaustion(t *testing.T, e Engine) {
	stdin, expect := startChild(t, "TestReceiverSurvivesDescriptorExhaustion", emfileChildEnv+"=1", emfileEngineEnv+"="+string(e))
	port, _ := strconv.Atoi(expect("port "))
	expect("exhausted")

	// The kernel completes the handshakes; the child's accept fails with EMFILE. Connections
	// are attempted until the child reports the failure (one may meet the engine restarting).
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	stopDial := make(chan struct{})
	dialed := make(chan struct{})
	go func() {
		defer close(dialed)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if c, err := net.DialTimeout("tcp", addr, waitTimeout); err == nil {
				defer c.Close()
			}
			select {
			case <-stopDial:
				return
			case <-tick.C:
			}
		}
	}()
	got := expect("health ")
	close(stopDial)
	<-dialed
	if !strings.Contains(got, channel.ErrReceiverFailed.Error()) {
		t.Fatalf("health event %q", got)
	}
	fmt.Fprintln(stdin, "free")
	expect("freed")

	snd, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Start(context.Background(), channel.SvcSender, nil); err != nil {
		t.Fatal(err)
	}
	defer snd.Stop(context.Background(), channel.SvcSender)
	src := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 1, SecurePort: -1, UDPPort: -1}
	dst := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1}
	var lastErr error
	testutil.EventuallyTrue(t, waitTimeout, "a send to the recovered receiver", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		lastErr = snd.Send(ctx, []channel.Member{dst}, &channel.Message{Options: channel.OptUseAck | channel.OptSyncAck,
			ID: channel.NewMessageID(), Source: src, Data: []byte("after")})
		return lastErr == nil
	})
	expect("got after")
	_ = stdin.Close()
	st := expect("stats ")
	var failures, restarts int
	var healthy bool
	if _, err := fmt.Sscanf(st, "failures=%d restarts=%d healthy=%t", &failures, &restarts, &healthy); err != nil {
		t.Fatalf("stats %q: %v", st, err)
	}
	if failures < 1 || restarts < 1 || !healthy {
		t.Fatalf("child stats %q", st)
	}
}

// emfileChild runs the receiver of TestReceiverSurvivesDescriptorExhaustion: it starts a
// transport, lowers RLIMIT_NOFILE, takes every free descriptor, prints what happens and
// frees the descriptors when told to ("free" on stdin). It exits when stdin closes.
func emfileChild() {
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	cfg := testConfig()
	cfg.Engine = Engine(os.Getenv(emfileEngineEnv))
	cfg.EventLoops = 1
	cfg.Logger = nil
	tr, err := New(cfg)
	if err != nil {
		say("error %v", err)
		os.Exit(1)
	}
	var healthy atomic.Bool
	healthy.Store(true)
	tr.SetHealthFunc(func(err error) {
		healthy.Store(err == nil)
		say("health %v", err)
	})
	err = tr.Start(context.Background(), channel.SvcReceiver, func(m *channel.Message) error {
		say("got %s", m.Data)
		return nil
	})
	if err != nil {
		say("error %v", err)
		os.Exit(1)
	}
	say("port %d", tr.LocalAddress().Port)

	if err := lowerDescriptorLimit(); err != nil {
		say("error %v", err)
		os.Exit(1)
	}
	var hog []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				say("error %v", err)
				os.Exit(1)
			}
			break
		}
		hog = append(hog, f)
	}
	say("exhausted")

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "free" {
			for _, f := range hog {
				_ = f.Close()
			}
			hog = nil
			say("freed")
		}
	}
	st := tr.Stats()
	say("stats failures=%d restarts=%d healthy=%t", st.ReceiverFailures, st.ReceiverRestarts, healthy.Load())
	_ = tr.Stop(context.Background(), channel.SvcAll)
	os.Exit(0)
}
