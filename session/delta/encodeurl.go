package delta

import (
	"net/http"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// EncodeURL returns loc with the session id of r's session in its path,
// ";jsessionid=<id>" (";<CookieName>=<id>" for another HTTPConfig.CookieName), for
// clients that do not keep cookies: Tomcat's HttpServletResponse.encodeURL (and
// encodeRedirectURL), which a Tomcat application calls on the links of its pages. r is
// the request the handler serves, inside the middleware. The middleware reads the id back
// from the next request's path (docs/failover.md).
//
// As in Tomcat, loc is returned unchanged when r has no session (none yet, or
// invalidated), when r named its session in a cookie (the client keeps cookies), and
// for links outside the application: another scheme, host or port than r's, or a path
// that is not HTTPConfig.CookiePath or below it. A new session's first page gets encoded
// links, since the client has not shown yet that it keeps the cookie. Call it after any
// ChangeID: the id written is the session's at the time of the call.
func EncodeURL(r *http.Request, loc string) string {
	if r == nil {
		return loc
	}
	rq := FromContext(r.Context())
	if rq == nil {
		return loc
	}
	s := rq.Session()
	if s == nil {
		return loc
	}
	return sessionhttp.EncodeURL(r, rq.mw.cfg.CookieName, rq.mw.cfg.CookiePath, s.ID(), loc)
}
