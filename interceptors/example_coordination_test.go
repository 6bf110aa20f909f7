package interceptors_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
)

// A two-phase commit interceptor on both sides: B holds A's message until A's confirmation
// comes, then delivers it. Over the in-memory network the confirmation follows at once.
func ExampleNewTwoPhaseCommit() {
	var tpc []*interceptors.TwoPhaseCommit
	a, b, stop := startPair(func() []channel.Interceptor {
		t, err := interceptors.NewTwoPhaseCommit(interceptors.TwoPhaseCommitConfig{}) // expire 60 s, as Tomcat
		if err != nil {
			panic(err)
		}
		tpc = append(tpc, t)
		return []channel.Interceptor{t}
	})
	defer stop()
	got := make(chan string, 1)
	b.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		got <- string(m.Data)
		return nil
	}))
	// With Java nodes, send two-phase messages with OptUseAck|OptSyncAck (docs/interceptors-coordination.md).
	if err := a.Send(context.Background(), a.Members(), []byte("commit me"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		panic(err)
	}
	fmt.Println("B received:", <-got)
	sa, sb := tpc[0].Stats(), tpc[1].Stats()
	fmt.Printf("A sent %d; B held %d, released %d, holds %d now\n", sa.Sent, sb.Held, sb.Released, sb.HeldNow)
	// Output:
	// B received: commit me
	// A sent 1; B held 1, released 1, holds 0 now
}

// A SimpleCoordinator on two nodes: once the membership has been quiet for QuietPeriod,
// each installs the view (the members in absolute order) and both agree that its first
// member coordinates. No message is sent.
func ExampleNewSimpleCoordinator() {
	var coords []*interceptors.SimpleCoordinator
	views := make(chan int, 8)
	_, _, stop := startPair(func() []channel.Interceptor {
		c, err := interceptors.NewSimpleCoordinator(interceptors.SimpleCoordinatorConfig{
			QuietPeriod:  10 * time.Millisecond, // Tomcat's is 2.5 s
			OnViewChange: func(view []channel.Member) { views <- len(view) },
		})
		if err != nil {
			panic(err)
		}
		coords = append(coords, c)
		return []channel.Interceptor{c}
	})
	defer stop()
	for two := 0; two < 2; { // a node may install a view of itself alone first
		if <-views == 2 {
			two++
		}
	}
	ca, _ := coords[0].Coordinator()
	cb, _ := coords[1].Coordinator()
	fmt.Println("same coordinator:", ca.Key() == cb.Key())
	fmt.Println("one of them coordinates:", coords[0].IsCoordinator() != coords[1].IsCoordinator())
	// Output:
	// same coordinator: true
	// one of them coordinates: true
}

// A NonBlockingCoordinator on two nodes: the member first in absolute order passes a token
// around the ring; when it comes back unchanged, it confirms the view to everybody, and
// both install the same view, with the same id.
func ExampleNewNonBlockingCoordinator() {
	type view struct {
		n  int
		id [16]byte
	}
	var coords []*interceptors.NonBlockingCoordinator
	views := make(chan view, 8)
	_, _, stop := startPair(func() []channel.Interceptor {
		c, err := interceptors.NewNonBlockingCoordinator(interceptors.NonBlockingCoordinatorConfig{
			OnViewChange: func(v []channel.Member, id [16]byte) { views <- view{len(v), id} },
		})
		if err != nil {
			panic(err)
		}
		coords = append(coords, c)
		return []channel.Interceptor{c}
	})
	defer stop()
	var ids [][16]byte
	for len(ids) < 2 { // each node installs the agreed view of both
		if v := <-views; v.n == 2 {
			ids = append(ids, v.id)
		}
	}
	ca, _ := coords[0].Coordinator()
	cb, _ := coords[1].Coordinator()
	fmt.Println("same view id:", ids[0] == ids[1])
	fmt.Println("same coordinator:", ca.Key() == cb.Key())
	fmt.Println("one of them coordinates:", coords[0].IsCoordinator() != coords[1].IsCoordinator())
	// Output:
	// same view id: true
	// same coordinator: true
	// one of them coordinates: true
}
