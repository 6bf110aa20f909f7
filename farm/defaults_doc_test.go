package farm

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// The defaults docs/farm.md and the package documentation give, as literal values rather
// than the constants, so that a changed constant fails here until the documents follow: a
// zero Config's ChunkSize (10 KiB, Tomcat's READ_SIZE), WatchInterval (20 s),
// MaxValidTime (5 min), MaxChunkBytes (4 MiB), MaxFileBytes (1 GiB), MaxOutOfOrderBytes
// (4 MiB), MaxIncomplete (16) and SendOptions (use_ack,sync).
func TestDefaultsAsDocumented(t *testing.T) {
	_, ch := channeltest.NewNetwork().StartChannel(t)
	d, err := New(Config{Channel: ch, DeployDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := d.cfg
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"ChunkSize", c.ChunkSize, 10 << 10},
		{"WatchInterval", c.WatchInterval, 20 * time.Second},
		{"MaxValidTime", c.MaxValidTime, 5 * time.Minute},
		{"MaxChunkBytes", c.MaxChunkBytes, 4 << 20},
		{"MaxFileBytes", c.MaxFileBytes, int64(1 << 30)},
		{"MaxOutOfOrderBytes", c.MaxOutOfOrderBytes, 4 << 20},
		{"MaxIncomplete", c.MaxIncomplete, 16},
		{"SendOptions", c.SendOptions, channel.OptUseAck | channel.OptSyncAck},
	} {
		if f.got != f.want {
			t.Errorf("%s = %v, documented %v", f.name, f.got, f.want)
		}
	}
	// "At most MaxIncomplete × MaxOutOfOrderBytes (64 MiB) of chunks in memory."
	if held := c.MaxIncomplete * c.MaxOutOfOrderBytes; held != 64<<20 {
		t.Errorf("MaxIncomplete × MaxOutOfOrderBytes = %d, documented 64 MiB", held)
	}
	// A smaller MaxChunkBytes lowers the default ChunkSize with it rather than failing.
	d, err = New(Config{Channel: ch, DeployDir: t.TempDir(), MaxChunkBytes: 4096})
	if err != nil {
		t.Fatalf("MaxChunkBytes 4096 with the default ChunkSize: %v", err)
	}
	if d.cfg.ChunkSize != 4096 {
		t.Errorf("ChunkSize %d with MaxChunkBytes 4096, want 4096", d.cfg.ChunkSize)
	}
}
