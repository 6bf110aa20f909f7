package mcast_test

import (
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/mcast"
)

// New refuses a configuration that does not say which interface to use; the local
// configuration uses loopback.
func ExampleNew() {
	_, err := mcast.New(mcast.DefaultConfig())
	fmt.Println(errors.Is(err, channel.ErrInvalidConfig))

	cfg := mcast.DefaultLocalConfig()
	cfg.Address, cfg.Port = "228.10.20.30", 45600 // a group of this cluster's own
	s, err := mcast.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := s.Config()
	fmt.Println(c.Bind, c.Frequency, c.DropTime)
	// Output:
	// true
	// 127.0.0.1 500ms 3s
}
