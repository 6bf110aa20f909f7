package metrics

import (
	"fmt"
	"reflect"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

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

// channelSources are the sources of a channel, as NewCollector lists them.
func channelSources(ch *channel.Channel) []Source {
	out := []Source{{Name: "channel", Stats: func() channelStats {
		return channelStats{Stats: ch.Stats(), Members: len(ch.Members()), Levels: uint(ch.Started()), Healthy: ch.Healthy()}
	}}}
	if tr := ch.Transport(); hasStats(tr) {
		out = append(out, Source{Name: "transport", Stats: tr})
	}
	if mb := ch.Membership(); hasStats(mb) {
		out = append(out, Source{Name: "membership", Stats: mb})
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
		var labels prometheus.Labels
		if count[n] > 1 {
			labels = prometheus.Labels{"position": strconv.Itoa(i)}
		}
		out = append(out, Source{Name: "interceptor_" + n, Stats: ic, Labels: labels})
	}
	return out
}

// sessionStats is what the "sessions" source shows.
type sessionStats struct {
	delta.Stats
	Ready bool `help:"1 once the manager's state transfer is over"`
}

// managerSource is the "sessions" source of a session manager:
// tribes_sessions_active_sessions, tribes_sessions_sent_total{event="EVT_SESSION_DELTA"}, ...
func managerSource(m *delta.Manager) Source {
	return Source{Name: "sessions", Labels: prometheus.Labels{"context": m.Name()}, Stats: func() sessionStats {
		return sessionStats{Stats: m.Stats(), Ready: m.Ready()}
	}}
}

// hasStats reports whether v has a Stats method usable as a source.
func hasStats(v any) bool {
	if v == nil {
		return false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && rv.IsNil() {
		return false
	}
	m := rv.MethodByName("Stats")
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
