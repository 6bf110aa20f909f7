package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// BenchmarkMemberCheck measures what session/delta's members-only rule costs each session
// message: one Channel.Member lookup of the sender, for a member and for a stranger, with
// a small and a large membership. docs/security.md quotes it.
func BenchmarkMemberCheck(b *testing.B) {
	for _, n := range []int{2, 1024} {
		members := make([]wire.Member, n)
		for i := range members {
			members[i] = strangerMember(20000+i, byte(i))
			members[i].UniqueID[1] = byte(i >> 8)
		}
		ch, err := node.New(node.Config{Transport: &nio.Config{Address: "127.0.0.1"}, StaticMembers: members})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			b.Fatal(err)
		}
		for name, key := range map[string]wire.MemberKey{"member": members[n-1].Key(), "stranger": strangerMember(1, 0x51).Key()} {
			b.Run(fmt.Sprintf("members=%d/%s", n, name), func(b *testing.B) {
				want := name == "member"
				for b.Loop() {
					if _, ok := ch.Member(key); ok != want {
						b.Fatalf("Member(%v) = %v", key, ok)
					}
				}
			})
		}
		if err := ch.Stop(ctx, channel.SvcAll); err != nil {
			b.Fatal(err)
		}
	}
}
