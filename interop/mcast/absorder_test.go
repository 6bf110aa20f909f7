package mcastinterop_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestSimpleCoordinatorUnsignedHostBytes: Tomcat 10.1.56+ compares host bytes as unsigned
// numbers, as CompareAbsolute does (docs/interceptors.md, absolute order). A Go node on
// 127.0.0.1 and a Java node on 127.200.0.1 differ in a byte of 128 or more: unsigned, the
// Go node comes first, and both install that view. Against an earlier jar the test checks
// the disagreement instead: Java, comparing signed bytes (200 as -56), puts its own node
// first.
func TestSimpleCoordinatorUnsignedHostBytes(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	sc, err := interceptors.NewSimpleCoordinator(interceptors.SimpleCoordinatorConfig{QuietPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g := startGo(t, goOpts{group: group, port: port, ics: []channel.Interceptor{sc}})
	j := javaMcast(t, group, port, "--bind", "127.200.0.1", "--interceptors", "SimpleCoordinator")
	want := []string{g.idHex(), j.IDHex()}
	testutil.Eventually(t, 30*time.Second, func() error {
		var ids []string
		for _, m := range sc.View() {
			ids = append(ids, m.UniqueID.String())
		}
		if !slices.Equal(ids, want) {
			return fmt.Errorf("Go's view %v, want %v", ids, want)
		}
		return nil
	})
	if h := sc.View()[1].Host; !bytes.Equal(h, []byte{127, 200, 0, 1}) {
		t.Fatalf("the Java member's host is %v, want 127.200.0.1", h)
	}
	javaWant := want
	major, minor, patch, err := javapeer.TribesVersion()
	if err != nil {
		t.Fatal(err)
	}
	if signedAbsoluteOrder(major, minor, patch) {
		javaWant = []string{j.IDHex(), g.idHex()}
		t.Logf("Tribes %d.%d.%d compares signed bytes: Java's view should put its node first", major, minor, patch)
	}
	// Java installs a view 2.5 s after the membership last changed.
	testutil.Eventually(t, 30*time.Second, func() error {
		view, err := j.CoordinatorView(context.Background())
		if err != nil {
			return err
		}
		var ids []string
		for _, m := range view {
			ids = append(ids, m.ID)
		}
		if !slices.Equal(ids, javaWant) {
			return fmt.Errorf("Java's view %v, want %v", ids, javaWant)
		}
		return nil
	})
}

// signedAbsoluteOrder reports whether Tribes major.minor.patch's AbsoluteOrder compares
// bytes as signed Java bytes: the releases before 10.1.56, 11.0.23 and 9.0.119.
func signedAbsoluteOrder(major, minor, patch int) bool {
	switch {
	case major == 9:
		return patch < 119
	case major == 10 && minor == 1:
		return patch < 56
	case major == 11:
		return minor == 0 && patch < 23
	}
	return major < 11 // 10.0.x, 8.5.x and older; 12 and later compare unsigned
}
