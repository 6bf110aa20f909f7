package backup_test

import (
	"fmt"
	"time"

	"github.com/gotribes/tribes/session/backup"
)

// A session as BackupManager's map holds it, without a Manager: its changes since the
// last Diff travel as Tomcat's DeltaRequest bytes, which the backup's copy (or a Tomcat
// node's DeltaSession) applies. A Manager does this for every request (Replicate).
func ExampleNewSession() {
	primary := backup.NewSession("5E4C3B2A19087F6E5D4C3B2A19087F6E.go0", 30*time.Minute, backup.Limits{})
	fmt.Println(primary.ID(), primary.IsNew(), primary.Primary(), primary.MaxInactive())
	if err := primary.Set("user", "alice"); err != nil { // a java.lang.String for Tomcat
		panic(err)
	}
	if err := primary.Set("cart", 3); err != nil { // a java.lang.Integer
		panic(err)
	}
	diff, err := primary.Diff()
	if err != nil {
		panic(err)
	}

	backupCopy := backup.NewSession(primary.ID(), 30*time.Minute, backup.Limits{})
	backupCopy.SetPrimary(false)
	if err := backupCopy.ApplyDiff(diff); err != nil {
		panic(err)
	}
	user, _, _ := backupCopy.Get("user")
	cart, _, _ := backupCopy.Get("cart")
	fmt.Println(backupCopy.AttributeNames(), user, cart, backupCopy.IsNew())
	if err := backupCopy.ApplyDiff(diff[:len(diff)/2]); err != nil {
		fmt.Println("a cut diff is refused; the backupCopy keeps", len(backupCopy.AttributeNames()), "attributes")
	}
	// Output:
	// 5E4C3B2A19087F6E5D4C3B2A19087F6E.go0 true true 30m0s
	// [user cart] alice 3 false
	// a cut diff is refused; the backupCopy keeps 2 attributes
}
