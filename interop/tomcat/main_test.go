package tomcatinterop_test

import (
	"os"
	"testing"

	"github.com/gotribes/tribes/internal/netbench"
)

func TestMain(m *testing.M) {
	code := m.Run()
	netbench.Cleanup() // the tribesdemo binary TestDemoBesideTomcat built
	os.Exit(code)
}
