package delta_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestLastAccessedTimeDuringRequestIsThePreviousOne: in a handler, the session's last
// accessed time is the previous request's, as Tomcat's getLastAccessedTime returns it
// (StandardSession.access only sets thisAccessedTime; endAccess moves it into
// lastAccessedTime: "the servlet spec mandates to ignore request handling time in
// lastAccessedTime"). Handlers ported from Tomcat use it for "last visit" and for
// their own idle checks (now - getLastAccessedTime() > limit: re-authenticate), which
// would never fire if it were the current request's start. Once the request ended, it
// is that request's time.
func TestLastAccessedTimeDuringRequestIsThePreviousOne(t *testing.T) {
	_, a, _, _ := three(t, delta.Config{})
	var seen time.Time
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := delta.FromContext(r.Context())
		if s := rq.Session(); s != nil {
			seen = s.LastAccessedTime()
			return
		}
		_ = rq.Set("x", 1)
	}))
	id := sessionCookie(t, get(h, "/", ""), "JSESSIONID").Value
	end1 := time.Now()
	// Let the millisecond clock move on past the first request's end.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the clock moves on", func() bool {
		return time.Now().UnixMilli() > end1.UnixMilli()+5
	})
	start2 := time.Now()
	get(h, "/", id)
	end2 := time.Now()
	if seen.IsZero() {
		t.Fatal("the second request found no session")
	}
	if !seen.Before(start2.Truncate(time.Millisecond)) {
		t.Errorf("LastAccessedTime in the second request is %v, not before that request started (%v): "+
			"it is the current request, not the previous one (which ended by %v)",
			seen.Format(time.StampMilli), start2.Format(time.StampMilli), end1.Format(time.StampMilli))
	}
	if after := a.m.Find(id).LastAccessedTime(); after.Before(start2.Truncate(time.Millisecond)) || after.After(end2) {
		t.Errorf("LastAccessedTime after the second request is %v, not in it (%v to %v)", after.Format(time.StampMilli),
			start2.Format(time.StampMilli), end2.Format(time.StampMilli))
	}
}
