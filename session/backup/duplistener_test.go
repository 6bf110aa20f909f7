package backup_test

import (
	"slices"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestFullCopyWithListenerTwice: a session a Tomcat node sends in full may list the same
// single sign-on listener twice (Tomcat's session adds a listener without looking for an
// equal one: the one read with the session and the one its single sign-on adds). Go
// reads listeners by name, one listener per name, as AttachListener and a diff keep
// them: the copy lists it once, and its events are told once. (Found when
// interop/tomcat TestBackupListenerOnTomcat saw Go's copy list the name twice.)
func TestFullCopyWithListenerTwice(t *testing.T) {
	s := backup.NewSession("S1.A", 0, backup.Limits{})
	v, err := backup.Codec{}.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*jserial.Object)
	st := delta.SessionState{ID: "S1.A", CreationTime: 1, LastAccessedTime: 1, MaxInactive: 60,
		Listeners: []string{"SSO1", "SSO2", "SSO1"}}
	if o.External, err = (delta.JavaCodec{}).SessionData(&st); err != nil {
		t.Fatal(err)
	}
	back, err := backup.Codec{}.Decode(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(*backup.Session).Listeners(); !slices.Equal(got, []string{"SSO1", "SSO2"}) {
		t.Fatalf("listeners %q, want [SSO1 SSO2]", got)
	}
}
