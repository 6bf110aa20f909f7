package interceptors

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestGzipRefusesNonMembersBeforeDecompressing: the compression interceptors sit below
// the channel's member check and, like fragmentation and twophasecommit, refuse a
// non-member's message before expanding it (InterceptorBase.SendersChecked). Before, Gzip
// decompressed a stranger's message in full first: a 64 KiB frame from a process that is
// no member expanded to up to MaxDecompressedSize (64 MiB) on the receiving worker, and
// only then did the channel refuse it. Over nio, each of the receiver's 15 workers could
// hold one such message at a time, and the stranger needed one small frame per connection.
func TestGzipRefusesNonMembersBeforeDecompressing(t *testing.T) {
	const expanded = 63 << 20 // under DefaultMaxDecompressedSize: a message the cap lets through
	// The message is 63 gzip members of 1 MiB of zeros each, which a gzip reader (Go's, and
	// Java's GZIPInputStream) reads as one stream of 63 MiB: 66 KB, compressed in about 2 s
	// under -race where compressing the 63 MiB as one member took 104 s (BestCompression;
	// 36 s with BestSpeed) on the loaded 2-core CI machine (2026-12-07).
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if _, err := zw.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	z := bytes.Repeat(member.Bytes(), expanded>>20)
	g, err := NewGzip(GzipConfig{})
	if err != nil {
		t.Fatal(err)
	}
	nw := channeltest.NewNetwork()
	a, b := newCheckingNode(t, nw, g), newNode(t, nw)
	startNodes(t, a, b)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = a.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: strangerMember(1),
		Options: OptGzip, Data: z})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("a stranger's compressed message: %v, want ErrNotMember", err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	if s := g.Stats(); s.Decompressed != 0 || s.RxBytesOut != 0 || s.NonMember != 1 || alloc > 8<<20 {
		t.Errorf("a stranger's %d-byte message was decompressed before the member check refused it: "+
			"%d decompressed, %d MiB out, %d MiB allocated, %d refused as a non-member's", len(z), s.Decompressed, s.RxBytesOut>>20, alloc>>20, s.NonMember)
	}
}

// TestCompressionNonMembers: Gzip, Zstd and S2 refuse a non-member's compressed message
// undecompressed where the channel checks senders, decompress it with AcceptNonMembers
// (for a channel.NonMemberListener; the channel then decides), and decompress every
// message on a channel that does not check senders.
func TestCompressionNonMembers(t *testing.T) {
	build := map[string]func(accept bool) (channel.Interceptor, *compression, error){
		"gzip": func(a bool) (channel.Interceptor, *compression, error) {
			c, err := NewGzip(GzipConfig{AcceptNonMembers: a})
			if err != nil {
				return nil, nil, err
			}
			return c, &c.compression, nil
		},
		"zstd": func(a bool) (channel.Interceptor, *compression, error) {
			c, err := NewZstd(ZstdConfig{AcceptNonMembers: a})
			if err != nil {
				return nil, nil, err
			}
			return c, &c.compression, nil
		},
		"s2": func(a bool) (channel.Interceptor, *compression, error) {
			c, err := NewS2(S2Config{AcceptNonMembers: a})
			if err != nil {
				return nil, nil, err
			}
			return c, &c.compression, nil
		},
	}
	data := bytes.Repeat([]byte("compressible "), 100)
	for name, newC := range build {
		for _, tc := range []struct{ accept, checking bool }{{false, true}, {true, true}, {false, false}} {
			t.Run(fmt.Sprintf("%s/accept=%v/checking=%v", name, tc.accept, tc.checking), func(t *testing.T) {
				ic, c, err := newC(tc.accept)
				if err != nil {
					t.Fatal(err)
				}
				z, err := c.codec.compress(data)
				if err != nil {
					t.Fatal(err)
				}
				nw := channeltest.NewNetwork()
				build := newNode
				if tc.checking {
					build = newCheckingNode
				}
				a := build(t, nw, ic)
				startNodes(t, a)
				err = a.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: strangerMember(1), Options: c.Flag, Data: z})
				s := c.Stats()
				switch {
				case tc.checking && !tc.accept:
					if !errors.Is(err, channel.ErrNotMember) || s.Decompressed != 0 || s.NonMember != 1 {
						t.Fatalf("%v, %+v; want refused undecompressed", err, s)
					}
				case tc.checking: // decompressed, then the channel's check drops it
					if !errors.Is(err, channel.ErrNotMember) || s.Decompressed != 1 || s.NonMember != 0 {
						t.Fatalf("%v, %+v; want decompressed, then dropped by the channel", err, s)
					}
				default:
					if got := a.payloads(); err != nil || s.Decompressed != 1 || len(got) != 1 || !bytes.Equal(got[0], data) {
						t.Fatalf("%v, %+v, %d delivered; want decompressed and delivered", err, s, len(got))
					}
				}
			})
		}
	}
}
