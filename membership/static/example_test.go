package static_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

type printEvents struct{}

func (printEvents) MemberAdded(m channel.Member)       { fmt.Println("added", m.Addr()) }
func (printEvents) MemberDisappeared(m channel.Member) { fmt.Println("gone", m.Addr()) }

// A static membership lists the configured members, less the local one.
func ExampleNew() {
	ms, err := wire.ParseMemberList("127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d5600,127.0.0.1:4001")
	if err != nil {
		panic(err)
	}
	svc := static.New(ms...)
	ctx := context.Background()
	if err := svc.Start(ctx, channel.SvcMembershipRx, ms[0], printEvents{}); err != nil {
		panic(err)
	}
	fmt.Println(len(svc.Members()), "member")
	_ = svc.Stop(ctx, channel.SvcMembershipRx)
	// Output:
	// added 127.0.0.1:4001
	// 1 member
	// gone 127.0.0.1:4001
}

// Add announces a member at run time and waits for the listener to be told, until its
// ctx ends.
func ExampleService_Add() {
	ms, err := wire.ParseMemberList("127.0.0.1:4000,127.0.0.1:4001")
	if err != nil {
		panic(err)
	}
	svc := static.New(ms[0])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Start(ctx, channel.SvcMembershipRx, ms[1], printEvents{}); err != nil {
		panic(err)
	}
	late, err := wire.ParseMemberText("127.0.0.1:4002")
	if err != nil {
		panic(err)
	}
	if err := svc.Add(ctx, late); err != nil {
		panic(err) // ctx ended first: late is listed, its event still goes up
	}
	fmt.Println(len(svc.Members()), "members")
	_ = svc.Stop(ctx, channel.SvcMembershipRx)
	// Output:
	// added 127.0.0.1:4000
	// added 127.0.0.1:4002
	// 2 members
	// gone 127.0.0.1:4000
	// gone 127.0.0.1:4002
}
