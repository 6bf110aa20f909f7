package farm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// Two nodes on an in-memory network: the first installs shop.war on the second, which
// finds it in its deploy directory, then undeploys it. With transport/nio and Tomcat
// nodes running FarmWarDeployer, the code is the same.
func Example() {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var deployers []*farm.Deployer
	var dirs []string
	for range 2 {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		dir, err := os.MkdirTemp("", "farm-example-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		d, err := farm.New(farm.Config{Channel: ch, DeployDir: dir,
			OnInstall: func(dep farm.Deployment) error {
				fmt.Println("installed", dep.ContextName, filepath.Base(dep.Path))
				return nil
			},
			OnRemove: func(contextName string) { fmt.Println("removed", contextName) }})
		if err != nil {
			panic(err)
		}
		if err := d.Start(ctx); err != nil {
			panic(err)
		}
		defer d.Stop(ctx)
		deployers, dirs = append(deployers, d), append(dirs, dir)
	}
	src := filepath.Join(os.TempDir(), "shop.war")
	if err := os.WriteFile(src, []byte("a web application"), 0o600); err != nil {
		panic(err)
	}
	defer os.Remove(src)
	if err := deployers[0].Install(ctx, farm.ContextName("shop.war"), src); err != nil {
		panic(err)
	}
	b, err := os.ReadFile(filepath.Join(dirs[1], "shop.war"))
	fmt.Printf("%q %v\n", b, err)
	if err := deployers[0].Remove(ctx, "/shop", false); err != nil {
		panic(err)
	}
	// Output:
	// installed /shop shop.war
	// "a web application" <nil>
	// removed /shop
}
