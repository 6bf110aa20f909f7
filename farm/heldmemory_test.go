package farm_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// shortChunk returns a FileMessage stream whose data array holds arrayLen bytes of
// which dataLength says only the first is the chunk's (Tomcat's FileMessage sends
// data[:dataLength]; the array may be longer).
func shortChunk(t *testing.T, stamp int64, number int32, total int64, name string, arrayLen int) []byte {
	t.Helper()
	b, err := farm.AppendMessage(nil, &farm.FileMessage{Timestamp: stamp, Number: number, Total: total,
		Data: make([]byte, arrayLen), FileName: name, ContextName: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	// The values start with the superclass's timestamp, then dataLength.
	ts := binary.BigEndian.AppendUint64(nil, uint64(stamp))
	i := bytes.Index(b, ts)
	if i < 0 {
		t.Fatal("timestamp not found")
	}
	binary.BigEndian.PutUint32(b[i+8:], 1)
	return b
}

// TestHeldChunksDoNotRetainTheirArrays: a member can make a deployer hold at most
// MaxOutOfOrderBytes of early chunks per file ("at most MaxIncomplete ×
// MaxOutOfOrderBytes in memory"). A held chunk is counted as its dataLength bytes plus
// 64, so it must not keep the decoded array it is a slice of (up to MaxChunkBytes)
// alive: held chunks used to, and chunks of dataLength 1 in 1 MiB arrays cost 65 bytes
// each against the limit and 1 MiB each of memory.
func TestHeldChunksDoNotRetainTheirArrays(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	const limit = 64 << 10
	b := startNode(t, nw, farm.Config{MaxChunkBytes: 1 << 20, MaxOutOfOrderBytes: limit})
	const stamp = 0x0102030405060708
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 64 // 64 × 65 bytes < 64 KiB: all held
	for i := range n {
		msg := shortChunk(t, stamp, int32(i+2), 1<<20, "x.war", 1<<20)
		if err := farm.Receive(b.d, &channel.Message{Source: a.ch.LocalMember(), Data: msg}); err != nil {
			t.Fatalf("chunk %d: %v", i+2, err)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if grown > 8*limit+(4<<20) {
		t.Fatalf("%d held chunks of one file (MaxOutOfOrderBytes %d) keep %s of heap alive", n, limit,
			fmt.Sprintf("%.1f MiB", float64(grown)/(1<<20)))
	}
	runtime.KeepAlive(b)
}
