package tomcatinterop_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// recvTrace records, per session id, the session messages a Go node received and the
// state its manager was in then (no manager yet, not ready, ready): what
// TestRollingMigration and TestRollingBack print about a session a node lost. Register
// it on the channel before the manager, so it also sees what arrives before the manager
// runs.
type recvTrace struct {
	start time.Time // the test's clock
	ch    *channel.Channel
	m     atomic.Pointer[delta.Manager]

	mu      sync.Mutex
	byID    map[string][]traceEntry
	renamed map[string][]string // old id to the new ids received for it
	members []traceEntry        // the channel's membership changes
}

// memberAdded and memberGone record the node's membership changes.
func (r *recvTrace) memberAdded(m channel.Member) { r.member("added", m) }
func (r *recvTrace) memberGone(m channel.Member)  { r.member("gone", m) }

func (r *recvTrace) member(what string, m channel.Member) {
	at := time.Since(r.start)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = append(r.members, traceEntry{at, "member " + what + ": " + m.Addr()})
}

type traceEntry struct {
	at   time.Duration
	text string
}

func newRecvTrace(start time.Time) *recvTrace {
	return &recvTrace{start: start, byID: map[string][]traceEntry{}, renamed: map[string][]string{}}
}

func (r *recvTrace) Accept(msg *channel.Message) bool { return delta.JavaCodec{}.Owns(msg.Data) }

func (r *recvTrace) MessageReceived(msg *channel.Message) error {
	dm, err := delta.JavaCodec{}.DecodeMessage(msg.Data)
	if err != nil {
		return nil
	}
	at := time.Since(r.start)
	state := "no manager"
	if m := r.m.Load(); m != nil {
		state = "manager not ready"
		if m.Ready() {
			state = "ready"
		}
	}
	from := msg.Source.Addr()
	if _, ok := r.ch.Member(msg.Source.Key()); !ok {
		from += " (not a member)"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	add := func(id, what string) {
		r.byID[id] = append(r.byID[id], traceEntry{at, fmt.Sprintf("%s from %s, %s", what, from, state)})
	}
	switch dm.Event {
	case delta.EventAllSessionData:
		for _, s := range dm.Sessions {
			add(s.ID, "in a transfer chunk, counter "+counterOf(s.Attributes))
		}
	case delta.EventChangeSessionID:
		add(dm.SessionID, "EVT_CHANGE_SESSION_ID to "+dm.NewID)
		add(dm.NewID, "EVT_CHANGE_SESSION_ID from "+dm.SessionID)
		r.renamed[dm.SessionID] = append(r.renamed[dm.SessionID], dm.NewID)
	case delta.EventDelta:
		var vs []delta.NamedValue
		for _, a := range dm.Actions {
			vs = append(vs, delta.NamedValue{Name: a.Name, Value: a.Value})
		}
		add(dm.SessionID, "EVT_SESSION_DELTA counter "+counterOf(vs))
	default:
		add(dm.SessionID, dm.Event.String())
	}
	return nil
}

// counterOf decodes the counter among attribute values, "-" when there is none.
func counterOf(vs []delta.NamedValue) string {
	for _, v := range vs {
		if v.Name == "counter" {
			n, err := delta.JavaValueCodec{}.Unmarshal(v.Value)
			if err != nil {
				return err.Error()
			}
			return fmt.Sprint(n)
		}
	}
	return "-"
}

// report lists what arrived for any of ids, or an id one of them was renamed to, in time
// order.
func (r *recvTrace) report(ids []string) string {
	r.mu.Lock()
	ids = slices.Clone(ids)
	for i := 0; i < len(ids); i++ {
		for _, n := range r.renamed[ids[i]] {
			if !slices.Contains(ids, n) {
				ids = append(ids, n)
			}
		}
	}
	all := slices.Clone(r.members)
	for _, id := range ids {
		for _, e := range r.byID[id] {
			all = append(all, traceEntry{e.at, id + ": " + e.text})
		}
	}
	r.mu.Unlock()
	slices.SortStableFunc(all, func(a, b traceEntry) int { return cmp.Compare(a.at, b.at) })
	var b strings.Builder
	for _, e := range all {
		fmt.Fprintf(&b, "\n    %7.3fs %s", e.at.Seconds(), e.text)
	}
	return b.String()
}
