package metrics

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// channelStats is what the "channel" source shows: the channel's counters and its current
// member count, levels and health.
type channelStats struct {
	channel.Stats
	Members int  `help:"members known now (the chain's view, the local member excluded)"`
	Levels  uint `metrics:"started_levels,gauge" help:"start levels running now, Tribes' bit set (15 = all)"`
	Healthy bool `help:"1 unless the transport or membership reported a failure it has not recovered from (Channel.Healthy)"`
}

// RegisterChannel registers everything a channel can tell:
//
//   - "channel": channel.Stats, plus the member count (tribes_channel_members), the
//     started levels and Channel.Healthy (tribes_channel_healthy, 0 or 1);
//   - "transport": the transport's Stats, if it has a Stats method (transport/nio does);
//   - "membership": the membership service's Stats, if it has one (membership/mcast does);
//   - "interceptor_<type>": each interceptor with a Stats method, named after its Go type
//     in snake case (interceptor_message_dispatch, interceptor_tcp_failure_detector);
//     an interceptor type that appears more than once gets a position label, its index in
//     the stack.
//
// labels go on every source. Either all of them are registered or, on error, none.
func (r *Registry) RegisterChannel(ch *channel.Channel, labels ...Label) error {
	var srcs []*source
	add := func(name string, src any, extra ...Label) error {
		s, err := newSource(name, src, append(labels[:len(labels):len(labels)], extra...))
		if err == nil {
			srcs = append(srcs, s)
		}
		return err
	}
	if err := add("channel", func() channelStats {
		return channelStats{Stats: ch.Stats(), Members: len(ch.Members()), Levels: uint(ch.Started()), Healthy: ch.Healthy()}
	}); err != nil {
		return err
	}
	if tr := ch.Transport(); hasStats(tr) {
		if err := add("transport", tr); err != nil {
			return err
		}
	}
	if mb := ch.Membership(); mb != nil && hasStats(mb) {
		if err := add("membership", mb); err != nil {
			return err
		}
	}
	ics := ch.Interceptors()
	count := map[string]int{}
	for _, ic := range ics {
		if hasStats(ic) {
			count[typeName(ic)]++
		}
	}
	for i, ic := range ics {
		if !hasStats(ic) {
			continue
		}
		n := typeName(ic)
		var extra []Label
		if count[n] > 1 {
			extra = append(extra, L("position", strconv.Itoa(i)))
		}
		if err := add("interceptor_"+n, ic, extra...); err != nil {
			return err
		}
	}
	return r.add(srcs...)
}

// sessionStats is what the "sessions" source shows.
type sessionStats struct {
	delta.Stats
	Ready bool `help:"1 once the manager's state transfer is over"`
}

// RegisterSessionManager registers a session manager's delta.Stats (and whether it is
// ready) as the source "sessions", labelled context="<its name>" besides labels:
// tribes_sessions_active_sessions, tribes_sessions_sent_total{event="EVT_SESSION_DELTA"}, ...
func (r *Registry) RegisterSessionManager(m *delta.Manager, labels ...Label) error {
	return r.Register("sessions", func() sessionStats {
		return sessionStats{Stats: m.Stats(), Ready: m.Ready()}
	}, append(labels[:len(labels):len(labels)], L("context", m.Name()))...)
}

// RegisterSessionCluster registers a session cluster's delta.ClusterStats as the source
// "session_cluster".
func (r *Registry) RegisterSessionCluster(c *delta.Cluster, labels ...Label) error {
	return r.Register("session_cluster", c, labels...)
}

// hasStats reports whether v has a Stats method usable as a source.
func hasStats(v any) bool {
	if v == nil {
		return false
	}
	m := reflect.ValueOf(v).MethodByName("Stats")
	if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 {
		return false
	}
	t := m.Type().Out(0)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// typeName is the snake-case name of v's type, without package and pointer.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return snake(fmt.Sprintf("%T", v))
	}
	return snake(t.Name())
}
