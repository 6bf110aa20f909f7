package cloud_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/cloud"
)

type printEvents struct{}

func (printEvents) MemberAdded(m channel.Member)       { fmt.Println("added", m) }
func (printEvents) MemberDisappeared(m channel.Member) { fmt.Println("gone", m) }

// pods is a fixed listing, as the Kubernetes provider makes it of a pod list.
type pods []cloud.Pod

func (p pods) Fetch(context.Context) ([]cloud.Instance, error) {
	var out []cloud.Instance
	for _, pod := range p {
		out = append(out, cloud.Instance{IP: pod.IP, UniqueID: cloud.PodUniqueID(pod), Created: pod.Created})
	}
	return out, nil
}

// The service lists every instance but the one at LocalIP, with the local receiver's port
// and the id every node computes for it; LocalUniqueID is the id to advertise.
func ExampleService() {
	created := time.Now().Add(-time.Hour)
	svc, err := cloud.New(cloud.Config{
		LookupEnv: cloud.NoEnv,
		LocalIP:   "10.0.0.1",
		Custom: pods{
			{Name: "web-0", UID: "6f1c2a4e-0000-4000-8000-000000000001", IP: "10.0.0.1", Created: created},
			{Name: "web-1", UID: "6f1c2a4e-0000-4000-8000-000000000002", IP: "10.0.0.2", Created: created},
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	id, err := svc.LocalUniqueID(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("this node's id", id)
	local := channel.Member{Host: netip.MustParseAddr("10.0.0.1").AsSlice(), Port: 4000, UniqueID: id, SecurePort: -1, UDPPort: -1}
	if err := svc.Start(ctx, channel.SvcMembership, local, printEvents{}); err != nil {
		panic(err)
	}
	fmt.Println(len(svc.Members()), "member")
	_ = svc.Stop(ctx, channel.SvcMembership)
	// Output:
	// this node's id c8693aadbcf4d8f36d7d4a2d82d68207
	// added 10.0.0.2:4000/7d884571c16f0a8473267c5d8b6cd362
	// 1 member
	// gone 10.0.0.2:4000/7d884571c16f0a8473267c5d8b6cd362
}
