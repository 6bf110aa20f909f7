package interceptors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

func TestDomainFilter(t *testing.T) {
	nw := channeltest.NewNetwork()
	f := must(NewDomainFilter(DomainFilterConfig{Domain: []byte("x"), LogInterval: 2}))
	a := mbNew(t, nw, mbOpt{id: 1, domain: "x"}, f)
	b := mbNew(t, nw, mbOpt{id: 2, domain: "x"})
	c := mbNew(t, nw, mbOpt{id: 3, domain: "y"})
	d := mbNew(t, nw, mbOpt{id: 4})
	mbStart(t, a, b, c, d)
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("members %v", got)
	}
	if _, ok := a.ch.Member(c.ch.LocalMember().Key()); ok {
		t.Fatal("Member finds another domain's member")
	}
	ctx := context.Background()
	for _, from := range []*mbNode{b, c, d, c} {
		if err := from.ch.Send(ctx, []channel.Member{a.ch.LocalMember()}, []byte("hi"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.received(); len(got) != 1 || !got[0].Source.Equal(b.ch.LocalMember()) {
		t.Fatalf("delivered %d", len(got))
	}
	if msgs, mbrs := f.Refused(); msgs != 3 || mbrs != 2 {
		t.Fatalf("refused %d messages, %d members", msgs, mbrs)
	}
	nw.Kill(c.net)
	nw.Kill(b.net)
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()), fmt.Sprintf("-%d", b.port()))
}

func TestDomainFilterLocalDomain(t *testing.T) {
	nw := channeltest.NewNetwork()
	f := must(NewDomainFilter(DomainFilterConfig{LocalDomain: true}))
	a := mbNew(t, nw, mbOpt{id: 1, domain: "y"}, f)
	b := mbNew(t, nw, mbOpt{id: 2, domain: "x"})
	c := mbNew(t, nw, mbOpt{id: 3, domain: "y"})
	mbStart(t, a, b, c)
	mbWantEvents(t, a, fmt.Sprintf("+%d", c.port()))
	if err := a.ch.SetDomain([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("after SetDomain: members %v", got)
	}
}

func TestParseDomain(t *testing.T) {
	for in, want := range map[string][]byte{
		"{1,-2,3}": {1, 0xfe, 3}, "abc": []byte("abc"), "": {}, "{}": nil, "caf\u00e9": {'c', 'a', 'f', 0xe9},
	} {
		got, err := ParseDomain(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseDomain(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"{1,300}", "{x}", "\u20ac"} {
		if _, err := ParseDomain(bad); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("ParseDomain(%q): %v, want channel.ErrInvalidConfig", bad, err)
		}
	}
}

// FuzzParseDomain: a domain from a configuration parses or is refused with
// channel.ErrInvalidConfig; what parses is given back by its list of signed bytes.
func FuzzParseDomain(f *testing.F) {
	for _, s := range []string{"{1,-2,3}", "abc", "", "{}", "caf\u00e9", "{1,300}", "{x}", "\u20ac", "{ 7 , ,8}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDomain(s)
		if err != nil {
			if !errors.Is(err, channel.ErrInvalidConfig) {
				t.Fatalf("%q: %v does not wrap channel.ErrInvalidConfig", s, err)
			}
			return
		}
		list := make([]string, len(d))
		for i, b := range d {
			list[i] = strconv.Itoa(int(int8(b)))
		}
		if back, err := ParseDomain("{" + strings.Join(list, ",") + "}"); err != nil || !bytes.Equal(back, d) {
			t.Fatalf("%q is %v, its list parses as %v, %v", s, d, back, err)
		}
	})
}

func TestMembershipInterceptorsFromSpec(t *testing.T) {
	ics, err := Build("tcpfailure(connectTimeout=500;performReadTest=true;readTestTimeout=2s;removeSuspectsTimeout=60),"+
		"ping(interval=2s;useThread=true;staticOnly=true),"+
		"staticmember(members=127.0.0.1:4000:000102030405060708090a0b0c0d0e0f,10.0.0.2:4001),"+
		"domain(domain={1,2};logInterval=5),domain,static", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := ics[0].(*TCPFailureDetector).Config()
	if d.ConnectTimeout != 500*time.Millisecond || !d.PerformReadTest || d.NoSendTest ||
		d.ReadTestTimeout != 2*time.Second || d.RemoveSuspectsTimeout != time.Minute {
		t.Fatalf("tcpfailure %+v", d)
	}
	p := ics[1].(*TCPPing).Config()
	if p.Interval != 2*time.Second || !p.UseThread || !p.StaticOnly {
		t.Fatalf("ping %+v", p)
	}
	if ms := ics[2].(*StaticMembership).StaticMembers(); len(ms) != 2 || ms[0].Port != 4001 || ms[1].Port != 4000 {
		t.Fatalf("static %v", ms)
	}
	f := ics[3].(*DomainFilter).Config()
	if !bytes.Equal(f.Domain, []byte{1, 2}) || f.LogInterval != 5 || f.LocalDomain {
		t.Fatalf("domain %+v", f)
	}
	if !ics[4].(*DomainFilter).Config().LocalDomain {
		t.Fatal("domain without a property should follow the local domain")
	}
	if _, ok := ics[5].(*StaticMembership); !ok {
		t.Fatal("static alias")
	}
	if _, err := Build("domain(domain={1,999})", nil); err == nil {
		t.Fatal("bad domain accepted")
	}
}

func TestDomainFilterAllInDomainIsTheListBelow(t *testing.T) {
	nw := channeltest.NewNetwork()
	f := must(NewDomainFilter(DomainFilterConfig{Domain: []byte("x")}))
	a := mbNew(t, nw, mbOpt{id: 1, domain: "x"}, f)
	b := mbNew(t, nw, mbOpt{id: 2, domain: "x"})
	mbStart(t, a, b)
	mbWantEvents(t, a, fmt.Sprintf("+%d", b.port()))
	if got := mbPorts(a.ch.Members()); !slices.Equal(got, []int32{b.port()}) {
		t.Fatalf("members %v", got)
	}
	wantNoOwnAllocs(t, f)
}
