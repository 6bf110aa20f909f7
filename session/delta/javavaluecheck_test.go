package delta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestJavaCodecNeedsJavaValues: a cluster speaking Tomcat's format (JavaCodec) writes
// attribute values as Java serialization streams, which GobCodec (the default Config.Codec)
// does not produce. NewManager refuses that pair with ErrInvalidConfig and names
// JavaValueCodec; it accepted it, and every replication then failed (503 with acked
// replication, a warning per request otherwise) with "not a Java serialization stream".
// JavaValueCodec, or a codec of the application's own, is accepted, and so is any value
// codec with the Go BinaryCodec.
func TestJavaCodecNeedsJavaValues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster delta.MessageCodec
		values  delta.ValueCodec
		ok      bool
	}{
		{"java cluster, default values", delta.JavaCodec{}, nil, false},
		{"java cluster, gob values", delta.JavaCodec{}, delta.GobCodec{}, false},
		{"*java cluster, *gob values", &delta.JavaCodec{}, &delta.GobCodec{}, false},
		{"java cluster, java values", delta.JavaCodec{}, delta.JavaValueCodec{}, true},
		{"java cluster, own values", delta.JavaCodec{}, ownValues{}, true},
		{"binary cluster, default values", nil, nil, true},
		{"binary cluster, java values", delta.BinaryCodec{}, delta.JavaValueCodec{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ch := newChannel(t, channeltest.NewNetwork())
			cl := newCluster(t, ch, delta.ClusterConfig{Codec: tc.cluster})
			defer func() { _ = cl.Close(context.Background()) }()
			_, err := cl.NewManager(delta.Config{Name: appName, Codec: tc.values})
			if tc.ok && err != nil {
				t.Fatalf("NewManager: %v", err)
			}
			if !tc.ok && !errors.Is(err, delta.ErrInvalidConfig) {
				t.Fatalf("NewManager: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// ownValues is an application's value codec: it may write Java streams, so NewManager
// takes it with JavaCodec.
type ownValues struct{ delta.JavaValueCodec }
