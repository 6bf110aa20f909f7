package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// jsonMember is how members appear in JSON lines.
type jsonMember struct {
	Host    string `json:"host"`
	Port    int32  `json:"port"`
	ID      string `json:"id"`
	Domain  string `json:"domain,omitempty"`
	Payload string `json:"payload,omitempty"`
	Alive   int64  `json:"alive"`
	Command string `json:"command,omitempty"` // hex; 424142592d414c4558 (BABY-ALEX) for a member that shut down
	UDPPort int32  `json:"udpPort,omitempty"`
}

func toJSON(m channel.Member) jsonMember {
	return jsonMember{Host: m.IP().String(), Port: m.Port, ID: m.UniqueID.String(), Domain: string(m.Domain),
		Payload: hex.EncodeToString(m.Payload), Alive: m.AliveTime, Command: hex.EncodeToString(m.Command), UDPPort: max(m.UDPPort, 0)}
}

// lineWriter writes one JSON object per line, from any goroutine.
type lineWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{enc: json.NewEncoder(w)} }

func (w *lineWriter) emit(v any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(v)
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := nodeFlags{staticProtocol: true}
	nf.register(fs, 0)
	var mf metricsFlag
	mf.register(fs)
	echo := fs.Bool("echo", false, "send every message back to its sender (same options minus async), not other nodes' tcpfailure probes and pings")
	quiet := fs.Bool("quiet", false, "print no line per message (for load tests); counts, failed echoes included, are in the stopped line")
	jsonOut := fs.Bool("json", false, "print one JSON object per line (the default when stdout is not a terminal)")
	chat := fs.Bool("chat", false, "chat mode: send every line typed on stdin to all members; stdin's end stops the node")
	chatOpts := fs.String("chat-options", "use_ack", "send options of chat lines")
	profiles := registerProfileFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo node [flags]\n\nRuns one node until --seconds pass or it is interrupted and prints a line per event:\n"+
			"readable text on a terminal, JSON lines otherwise or with --json.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	limit, err := nf.limit()
	if err != nil {
		return err
	}
	asJSON := !isTerminal(stdout)
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "json" {
			asJSON = *jsonOut
		}
	})
	sendOpts, err := parseOptionsFlag("chat-options", *chatOpts)
	if err != nil {
		return err
	}
	stopProfile, err := profiles.start()
	if err != nil {
		return err
	}
	defer stopProfile()
	ch, stopMetrics, err := nf.buildServed(ctx, &mf, stderr)
	if err != nil {
		return err
	}
	defer stopMetrics()
	out := &nodePrinter{w: newLineWriter(stdout), raw: stdout, json: asJSON}
	// A static member answering at once is added while Start runs: its line waits for the
	// started line, which a reader looks for first.
	var early heldLines
	ch.AddMembershipListener(channel.MembershipFuncs{
		Added:       func(m channel.Member) { early.do(func() { out.member(m, true) }) },
		Disappeared: func(m channel.Member) { early.do(func() { out.member(m, false) }) },
	})
	ctx, cancel := withLimit(ctx, limit)
	defer cancel()
	var bg sync.WaitGroup
	defer bg.Wait()
	var counts nodeCounts   // for the stopped line: --quiet prints no line per message
	var checks checkCounter // other nodes' tcpfailure probes and pings (nodechecks.go)
	svc, _ := ch.Membership().(*staticsvc.Service)
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if svc != nil && svc.Owns(m) {
			return nil
		}
		counts.received.Add(1)
		counts.bytes.Add(int64(len(m.Data)))
		if kind := checkKind(m.Data); kind != "" {
			if checks.first(m.Source, kind) && !*quiet {
				out.check(m, kind)
			}
			return nil
		}
		if *quiet && !*echo {
			m.Release() // counted by the channel; nothing here keeps Data
			return nil
		}
		if !*quiet {
			out.message(m)
		}
		if *echo {
			// Echo from another goroutine: a listener must not wait for a round trip.
			bg.Go(func() {
				opts := m.Options &^ channel.OptAsync
				err := ch.Send(ctx, []channel.Member{m.Source}, m.Data, opts)
				counts.sent1(err)
				if err != nil {
					counts.echoFailed.Add(1)
				}
				if !*quiet {
					out.echoed(m, err)
				}
			})
		}
		return nil
	}))
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		return err
	}
	early.open(func() { out.started(ch.LocalMember(), *chat) })
	if *chat {
		bg.Go(func() {
			chatLoop(ctx, ch, sendOpts, out, &counts)
			cancel() // the end of stdin ends the node
		})
	}
	<-ctx.Done()
	stopCtx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer c2()
	err = ch.Stop(stopCtx, channel.SvcAll)
	// The echoes under way end with the stop (or their ack timeout): print and count them
	// before the stopped line. Stop delivers nothing after it returns, so no echo starts.
	bg.Wait()
	counts.checks.Store(checks.n.Load())
	out.stopped(&counts)
	return err
}

// heldLines holds the lines printed before open, prints them after open's own, and the
// later ones at once.
type heldLines struct {
	mu     sync.Mutex
	opened bool
	held   []func()
}

func (h *heldLines) do(print func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.opened {
		h.held = append(h.held, print)
		return
	}
	print()
}

func (h *heldLines) open(first func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	first()
	for _, p := range h.held {
		p()
	}
	h.opened, h.held = true, nil
}

// stdin is what chat mode reads; tests replace it.
var stdin io.Reader = os.Stdin

// chatLoop sends every line read from stdin to all members until stdin ends or ctx does.
// The reading goroutine may outlive ctx until the next line or the end of stdin.
func chatLoop(ctx context.Context, ch *channel.Channel, opts channel.SendOptions, out *nodePrinter, counts *nodeCounts) {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			members := ch.Members()
			err := ch.Send(ctx, members, []byte(line), opts)
			if len(members) > 0 {
				counts.sent1(err)
			}
			out.chatSent(line, len(members), err)
		}
	}
}

// nodePrinter renders node events as JSON lines or as readable text.
type nodePrinter struct {
	w    *lineWriter
	raw  io.Writer
	json bool
}

func (p *nodePrinter) text(format string, a ...any) {
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	fmt.Fprintf(p.raw, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

func describeMember(m channel.Member) string {
	s := m.Addr() + " id " + m.UniqueID.String()
	if len(m.Domain) > 0 {
		s += " domain " + strconv.Quote(string(m.Domain))
	}
	if len(m.Payload) > 0 {
		s += " payload " + hex.EncodeToString(m.Payload)
	}
	return s
}

func (p *nodePrinter) started(m channel.Member, chat bool) {
	if p.json {
		p.w.emit(map[string]any{"event": "started", "member": toJSON(m), "tomcatId": m.UniqueID.TomcatText()})
		return
	}
	hint := "Ctrl-C stops it"
	if chat {
		hint = "type a line to send it to every member; Ctrl-D or Ctrl-C stops"
	}
	// The id also as a Tomcat node's <Member> needs it (uniqueId in server.xml).
	p.text("started  %s  uniqueId=%q  (%s)", describeMember(m), m.UniqueID.TomcatText(), hint)
}

func (p *nodePrinter) member(m channel.Member, added bool) {
	if p.json {
		ev := "member-disappeared"
		if added {
			ev = "member-added"
		}
		p.w.emit(map[string]any{"event": ev, "member": toJSON(m)})
		return
	}
	if added {
		p.text("+ member joined  %s", describeMember(m))
	} else {
		p.text("- member left    %s", describeMember(m))
	}
}

func (p *nodePrinter) message(m *channel.Message) {
	printable := len(m.Data) <= 256 && utf8.Valid(m.Data)
	if p.json {
		sum := sha256.Sum256(m.Data)
		ev := map[string]any{"event": "message", "from": toJSON(m.Source), "size": len(m.Data),
			"options": uint32(m.Options), "sha256": hex.EncodeToString(sum[:])}
		if printable {
			ev["text"] = string(m.Data)
		}
		p.w.emit(ev)
		return
	}
	body := fmt.Sprintf("%d bytes", len(m.Data))
	if printable {
		body = strconv.Quote(string(m.Data))
	}
	p.text("< %s: %s  (%s)", m.Source.Addr(), body, m.Options)
}

func (p *nodePrinter) echoed(m *channel.Message, err error) {
	if p.json {
		ev := map[string]any{"event": "echoed", "to": toJSON(m.Source), "size": len(m.Data)}
		if err != nil {
			ev["error"] = err.Error()
		}
		p.w.emit(ev)
		return
	}
	if err != nil {
		p.text("! echo to %s failed: %v", m.Source.Addr(), err)
		return
	}
	p.text("> echoed %d bytes to %s", len(m.Data), m.Source.Addr())
}

func (p *nodePrinter) chatSent(line string, members int, err error) {
	if p.json {
		ev := map[string]any{"event": "chat-sent", "text": line, "members": members}
		if err != nil {
			ev["error"] = err.Error()
		}
		p.w.emit(ev)
		return
	}
	switch {
	case members == 0:
		p.text("! nobody to send to yet")
	case err != nil:
		p.text("! send failed: %v", err)
	default:
		p.text("> sent to %d member(s)", members)
	}
}

// nodeCounts are the messages the stopped line counts: those of applications, not the
// static member protocol's (START, PING, STOP and their replies, which the channel's
// Stats count among its own: a node of two static members stopped after 20 s counted
// some forty messages "sent" that no user sent; TestNodeStoppedLineCountsNoMemberProtocol).
type nodeCounts struct {
	received, bytes atomic.Int64 // delivered to the node, other nodes' checks included
	sent            atomic.Int64 // echoes and chat lines sent without error (a chat line to n members is one)
	echoFailed      atomic.Int64 // echoes whose send failed
	checks          atomic.Int64 // of received, other nodes' tcpfailure probes and pings
}

// sent1 counts one send of the node's own that returned err.
func (c *nodeCounts) sent1(err error) {
	if err == nil {
		c.sent.Add(1)
	}
}

// stopped prints the node's counts; echoFailed (--echo's failed echoes) and checks (other
// nodes' tcpfailure probes and pings, in received) only if there were any.
func (p *nodePrinter) stopped(c *nodeCounts) {
	echoFailed, checks := c.echoFailed.Load(), c.checks.Load()
	if p.json {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		ev := map[string]any{"event": "stopped", "received": c.received.Load(), "bytes": c.bytes.Load(),
			"sent": c.sent.Load(), "maxRssKb": maxRSSKB(), "mallocs": ms.Mallocs, "gcCycles": ms.NumGC}
		if echoFailed > 0 {
			ev["echoFailed"] = echoFailed
		}
		if checks > 0 {
			ev["checks"] = checks
		}
		p.w.emit(ev)
		return
	}
	failed, checked := "", ""
	if echoFailed > 0 {
		failed = fmt.Sprintf(", %d echoes failed", echoFailed)
	}
	if checks > 0 {
		checked = fmt.Sprintf(", %d of them other nodes' tcpfailure probes or pings", checks)
	}
	p.text("stopped: received %d messages (%d bytes%s), sent %d%s; peak memory %.1f MiB",
		c.received.Load(), c.bytes.Load(), checked, c.sent.Load(), failed, float64(maxRSSKB())/1024)
}

// parseOptionsFlag reads the send options of flag name (--options, --chat-options):
// Tribes' names, comma separated, or a number.
func parseOptionsFlag(name, s string) (channel.SendOptions, error) {
	o, err := channel.ParseSendOptions(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		return 0, fmt.Errorf("%w: --%s: %v", errUsage, name, err)
	}
	return o, nil
}

// maxRSSKB is this process's peak resident set (VmHWM) in KiB, or 0 where /proc is missing.
func maxRSSKB() int64 { return procHWM(os.Getpid()) }
