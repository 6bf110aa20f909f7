package mapsinterop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const leaveKeys = 4

// goPut puts leaveKeys entries go0.. on m and waits until Java knows them; it returns how
// many of them Java holds a value of (as the backup; the others are proxies).
func (c *testCluster) goPut(t *testing.T, m *replmap.Map) int {
	t.Helper()
	for i := range leaveKeys {
		if _, err := m.Put(context.Background(), fmt.Sprint("go", i), fmt.Sprint("from-go-", i)); err != nil {
			t.Fatal(err)
		}
	}
	size := 0
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Java knows every Go key", func() bool {
		info, err := c.j.MapKeys(context.Background())
		size = info.Size
		return err == nil && len(info.Keys) == leaveKeys
	})
	return size
}

// javaPut puts leaveKeys entries java0.. on Java and waits until the Go maps know them.
func (c *testCluster) javaPut(t *testing.T) {
	t.Helper()
	want := make([]int, len(c.maps))
	for i, m := range c.maps {
		want[i] = len(m.Keys()) + leaveKeys
	}
	for i := range leaveKeys {
		if err := c.j.MapPut(context.Background(), fmt.Sprint("java", i), fmt.Sprint("from-java-", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range c.maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go knows the Java keys", func() bool { return len(m.Keys()) == want[i] })
	}
}

// javaGets checks that Java gets every key prefix0.. with its value.
func (c *testCluster) javaGets(t *testing.T, prefix string) {
	t.Helper()
	for i := range leaveKeys {
		v, found, err := c.j.MapGet(context.Background(), fmt.Sprint(prefix, i))
		if err != nil || !found || v != fmt.Sprint("from-", prefix, "-", i) {
			t.Fatalf("Java get %s%d = %q %v %v", prefix, i, v, found, err)
		}
	}
}

// goGets checks that m gets every key prefix0.. with its value.
func goGets(t *testing.T, m *replmap.Map, prefix string) {
	t.Helper()
	for i := range leaveKeys {
		v, ok, err := m.Get(context.Background(), fmt.Sprint(prefix, i))
		if err != nil || !ok || v != fmt.Sprint("from-", prefix, "-", i) {
			t.Fatalf("Go get %s%d = %#v %v %v", prefix, i, v, ok, err)
		}
	}
}

// kinds runs f as a subtest for a LazyReplicatedMap and for a ReplicatedMap.
func kinds(t *testing.T, f func(t *testing.T, replicated bool)) {
	for _, replicated := range []bool{false, true} {
		t.Run(map[bool]string{false: "lazy", true: "replicated"}[replicated], func(t *testing.T) { f(t, replicated) })
	}
}

// TestGoPrimaryLeaves: a Go primary's map stops. In a LazyReplicatedMap Java, the backup
// of some of its entries and a proxy of the others, and the Go backup of the others take
// them over and each picks the other as the new backup; in a ReplicatedMap both hold
// copies. Both get every value.
func TestGoPrimaryLeaves(t *testing.T) {
	kinds(t, func(t *testing.T, replicated bool) {
		c := cluster(t, setup{replicated: replicated})
		if size := c.goPut(t, c.maps[0]); !replicated && (size == 0 || size == leaveKeys) {
			t.Fatalf("Java holds %d values of %d keys: backup and proxy paths not both taken", size, leaveKeys)
		}
		if err := c.maps[0].Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.waitJavaMembers(t, 1)
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members", func() bool { return len(c.maps[1].Members()) == 1 })
		testutil.EventuallyTrue(t, testutil.WaitLimit, "every value on both survivors", func() bool {
			info, err := c.j.MapKeys(context.Background())
			return err == nil && info.Size+c.maps[1].Len() == 2*leaveKeys
		})
		c.javaGets(t, "go")
		goGets(t, c.maps[1], "go")
	})
}

// TestJavaPrimaryLeaves: Java's map stops (breakdown, MSG_STOP) or its process is killed
// (the Go channels drop it when it has been silent for their ExpirationTime, 2 s here). In a LazyReplicatedMap the Go backups of its entries take
// them over and each picks the other Go node as the new backup; in a ReplicatedMap the
// first backup node of each takes it over. Both Go nodes get every value.
func TestJavaPrimaryLeaves(t *testing.T) {
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) {
			kinds(t, func(t *testing.T, replicated bool) {
				s := setup{replicated: replicated}
				if how == "kill" {
					s.expiration = 2 * time.Second
				}
				c := cluster(t, s)
				c.javaPut(t)
				a, b := c.maps[0].Len(), c.maps[1].Len()
				if !replicated && (a == 0 || b == 0 || a+b != leaveKeys) {
					t.Fatalf("Go backups %d and %d of %d Java keys: want each Go node the backup of some", a, b, leaveKeys)
				}
				if how == "kill" {
					c.j.Kill()
				} else if err := c.j.MapStop(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, m := range c.maps {
					testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members", func() bool { return len(m.Members()) == 1 })
				}
				testutil.EventuallyTrue(t, testutil.WaitLimit, "every value on both Go nodes", func() bool {
					return c.maps[0].Len() == leaveKeys && c.maps[1].Len() == leaveKeys
				})
				for _, m := range c.maps {
					goGets(t, m, "java")
				}
			})
		})
	}
}

// TestStateFromJava: Java and a Go node hold entries; a Go map starting later takes the
// state from Java (the Go nodes' replies are held back while it starts, so Java is its
// only map member then). A LazyReplicatedMap knows every key as a proxy and gets every
// value from its backup, a Go node or Java; a ReplicatedMap holds a copy of each.
func TestStateFromJava(t *testing.T) {
	kinds(t, func(t *testing.T, replicated bool) {
		c := cluster(t, setup{replicated: replicated, idle: 1})
		c.goPut(t, c.maps[0])
		c.javaPut(t)
		joiner, gate := newMap(t, c.gos[2], c.s), c.gates[2]
		javaKey := c.java.Key()
		gate.only.Store(&javaKey)
		startMap(t, joiner)
		gate.only.Store(nil)
		if ms := joiner.Members(); len(ms) != 1 || ms[0].Key() != javaKey {
			t.Fatalf("joiner's map members after start: %v, want only Java", ms)
		}
		values := 0
		if replicated {
			values = 2 * leaveKeys
		}
		if keys := joiner.Keys(); len(keys) != 2*leaveKeys || joiner.Len() != values {
			t.Fatalf("joiner knows %d keys and holds %d values, want %d keys, %d values", len(keys), joiner.Len(), 2*leaveKeys, values)
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "joiner's map members", func() bool {
			c.gos[2].Heartbeat() // its pings answered by the Go nodes add them
			return len(joiner.Members()) == 3
		})
		c.waitJavaMembers(t, 3)
		goGets(t, joiner, "go")
		goGets(t, joiner, "java")
		if joiner.Len() != 2*leaveKeys {
			t.Fatalf("joiner holds %d values after getting every key", joiner.Len())
		}
	})
}
