package replmap_test

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/replmap"
)

// The map in which Tomcat's ReplicatedContext keeps the ServletContext attributes of the
// application "/shop": a Go node that runs it shares them with the Tomcat nodes of the
// application. Here two Go nodes share one attribute.
func ExampleReplicatedContextConfig() {
	ctx := context.Background()
	cfg := replmap.ReplicatedContextConfig(nil, "/shop") // a node passes its channel; startMaps sets it
	fmt.Printf("map %q\n", cfg.Name)
	maps, stop := startMaps(ctx, 2, cfg)
	defer stop()
	if _, err := maps[0].Put(ctx, "motd", "Sale today"); err != nil { // a java.lang.String
		panic(err)
	}
	v, ok, err := maps[1].Get(ctx, "motd")
	fmt.Println(v, ok, err)
	// Output:
	// map "/shop"
	// Sale today true <nil>
}
