package backup_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// A clean shutdown of two Go nodes with BackupManager's map settings: the second
// Manager.Stop's MSG_STOP (sent with BackupManager's USE_ACK|SYNC_ACK) reaches a node
// whose map stopped a moment before and which answers FAIL_ACK for a message no listener
// took (Tomcat nodes ACK it). That is no failure: both Stops return nil (before,
// replmap.Map.Stop returned the send error).
func TestSecondStopOfACleanShutdown(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{})
	if err := ms[0].Stop(context.Background()); err != nil {
		t.Fatalf("first Stop: %v", err)
	}
	if err := ms[1].Stop(context.Background()); err != nil {
		t.Errorf("second Stop of a clean shutdown: %v", err)
	}
}
