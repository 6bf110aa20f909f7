package tomcatinterop_test

import (
	"os"
	"testing"

	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/tomcat"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopShared()                // the Tomcat nodes tests shared, before the webapp they read goes
	netbench.Cleanup()          // the tribesdemo binary TestDemoBesideTomcat built
	tomcat.RemoveSharedWebapp() // the test web application setUp compiled
	javaClasses.remove()        // the classes javaTool compiled
	os.Exit(code)
}
