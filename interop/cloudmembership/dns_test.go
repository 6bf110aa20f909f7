package cloudinterop_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/cloud"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

const serviceName = "tomcat-members"

// TestDNSJavaAndGo: Tomcat's DNSMembershipProvider and membership/cloud's DNS provider
// give the same ids (the MD5 digest of the address). The Go node resolves the service
// name with a real DNS server (dnsmasq, listing both nodes); the Java node cannot be
// pointed at a DNS server on another port than 53 (InetAddress uses the system's
// resolver), so it reads the same kind of records from a hosts file
// (-Djdk.net.hosts.file), which at first lists only itself. Go lists Java; Java lists Go
// as soon as Go's first message arrives (Tomcat's DNS provider adds unknown senders),
// with the id Go advertises; messages go both ways.
func TestDNSJavaAndGo(t *testing.T) {
	javapeer.Skip(t)
	dns := dnsmasq.Start(t, goAddr+" "+serviceName+"\n"+javaAddr+" "+serviceName+"\n")
	port := freePort(t)

	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	write(t, hosts, javaAddr+" "+hostname+"\n"+javaAddr+" "+serviceName+"\n")
	jp := javapeer.StartWith(t, javapeer.Options{
		Env:     []string{"DNS_MEMBERSHIP_SERVICE_NAME=" + serviceName},
		JVMArgs: []string{"-Djdk.net.hosts.file=" + hosts, "-Dsun.net.inetaddr.ttl=0"},
	}, "--bind", javaAddr, "--port", strconv.Itoa(port), "--autobind", "1", "--cloud-membership", "dns")
	if got, want := hex.EncodeToString(jp.ID[:]), md5Hex(javaAddr); got != want {
		t.Fatalf("Java's own id %s, want md5(%q) %s", got, javaAddr, want)
	}

	tcfg := nio.DefaultConfig()
	tcfg.Address, tcfg.Port, tcfg.AutoBind = goAddr, port, 1
	ch, err := node.New(node.Config{
		Transport: &tcfg,
		Cloud: &cloud.Config{Provider: cloud.ProviderDNS, LookupEnv: cloud.NoEnv, LocalIP: goAddr,
			DNS: cloud.DNSConfig{ServiceName: serviceName, Resolver: dns.Resolver()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), javaSeesWithin)
	defer cancel()
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(context.Background(), channel.SvcAll)
	goID := ch.LocalMember().UniqueID.String()
	if want := md5Hex(goAddr); goID != want {
		t.Fatalf("Go's own id %s, want md5(%q) %s", goID, goAddr, want)
	}

	// Go lists Java with the id Java gave itself.
	ms := ch.Members()
	if len(ms) != 1 || ms[0].IP().String() != javaAddr || int(ms[0].Port) != port || ms[0].UniqueID != jp.ID || ms[0].AliveTime != -1 {
		t.Fatalf("Go's members %v, Java is %s", ms, jp.Member())
	}
	if jm, err := jp.Members(ctx); err != nil || len(jm) != 0 {
		t.Fatalf("Java's members before Go's first message: %+v, %v", jm, err)
	}

	got := make(chan channel.Member, 1)
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if strings.HasPrefix(string(m.Data), "dns-from-java") {
			select {
			case got <- m.Source:
			default:
			}
		}
		return nil
	}))
	if err := ch.Send(ctx, ch.Members(), []byte("dns-from-go"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatalf("send to Java: %v", err)
	}
	added := jp.WaitEvent(t, testutil.WaitLimit, func(e javapeer.Event) bool { return e.Event == "memberAdded" })
	if added.Member == nil || added.Member.ID != goID || added.Member.Host != goAddr || added.Member.Port != port {
		t.Fatalf("Java added %+v, want %s:%d:%s", added.Member, goAddr, port, goID)
	}

	res, err := jp.Send(ctx, []string{fmt.Sprintf("%s:%d:%s", goAddr, port, goID)}, 1, 20, 3, "dns-from-java")
	if err != nil || res.Failed != 0 {
		t.Fatalf("Java's send: %+v, %v", res, err)
	}
	select {
	case src := <-got:
		if src.UniqueID != jp.ID {
			t.Errorf("Go got Java's message from %v", src)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Go did not deliver Java's message")
	}
}
