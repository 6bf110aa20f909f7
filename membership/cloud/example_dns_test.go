package cloud_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gotribes/tribes/membership/cloud"
)

// The DNS provider resolves a name, in Kubernetes a headless service whose selector
// matches the pods, to the members' addresses; each address's id is the MD5 digest Tomcat
// gives it, and there is no creation time. The Resolver says which DNS server to ask:
// here one on loopback standing for the cluster's DNS. With cloud.New and ProviderDNS, the
// Service asks the provider on every heartbeat.
func ExampleNewDNS() {
	const name = "tomcat.shop.svc.cluster.local." // a fully qualified name: no search domains
	server := serveDNS(name, "10.0.0.5", "10.0.0.6")
	defer server.Close()
	p, err := cloud.NewDNS(cloud.Config{
		Provider:  cloud.ProviderDNS,
		LookupEnv: cloud.NoEnv, // DNS_MEMBERSHIP_SERVICE_NAME is ignored here
		LocalIP:   "10.0.0.5",
		DNS: cloud.DNSConfig{ServiceName: name, Resolver: &net.Resolver{PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, server.LocalAddr().String())
			}}},
	})
	if err != nil {
		panic(err)
	}
	insts, err := p.Fetch(context.Background())
	if err != nil {
		panic(err)
	}
	slices.SortFunc(insts, func(a, b cloud.Instance) int { return netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP)) })
	for _, in := range insts {
		fmt.Printf("%s %x %v\n", in.IP, in.UniqueID, in.Created.IsZero())
	}
	fmt.Println(insts[0].UniqueID == cloud.AddressUniqueID(netip.MustParseAddr("10.0.0.5"))) // MD5 of "10.0.0.5"
	// Output:
	// 10.0.0.5 0669df0f031fb83e345267a9679bbc6a true
	// 10.0.0.6 9e3a5bee3d95ebf710f509bd2177324b true
	// true
}

// serveDNS answers the A questions for name with addrs over UDP on loopback, every
// other question with no address, until it is closed.
func serveDNS(name string, addrs ...string) net.PacketConn {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
				continue
			}
			r := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true},
				Questions: q.Questions}
			if qq := q.Questions[0]; qq.Name.String() == name && qq.Type == dnsmessage.TypeA {
				for _, a := range addrs {
					r.Answers = append(r.Answers, dnsmessage.Resource{
						Header: dnsmessage.ResourceHeader{Name: qq.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
						Body:   &dnsmessage.AResource{A: netip.MustParseAddr(a).As4()}})
				}
			}
			if b, err := r.Pack(); err == nil {
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	return pc
}
