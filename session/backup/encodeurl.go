package backup

import (
	"net/http"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// EncodeURL returns loc with the session id of r's session in its path,
// ";jsessionid=<id>", for clients that do not keep cookies: Tomcat's
// HttpServletResponse.encodeURL (and encodeRedirectURL), which a Tomcat application
// calls on the links of its pages. r is the request the handler serves, inside
// Manager.Wrap, which reads the id back from the next request's path.
//
// As in Tomcat, loc is returned unchanged when r has no session (none yet, invalidated,
// or its lookup failed), when r named its session in a cookie (the client keeps
// cookies), and for links outside the application: another scheme, host or port than
// r's, or a path that is not Config.CookiePath or below it. A new session's first page
// gets encoded links, since the client has not shown yet that it keeps the cookie.
func EncodeURL(r *http.Request, loc string) string {
	if r == nil {
		return loc
	}
	q := FromContext(r.Context())
	if q == nil {
		return loc
	}
	s, err := q.Session()
	if s == nil || err != nil {
		return loc
	}
	return sessionhttp.EncodeURL(r, CookieName, q.m.cfg.CookiePath, s.ID(), loc)
}
