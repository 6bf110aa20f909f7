// Package counter is the session logic of the counter page that the demo, the HTTP
// benchmark's Go server and the Tomcat migration test serve: the request's session (created
// if it has none) counts its requests in the attribute "counter", as the project's Tomcat
// test webapp does with a java.lang.Integer of that name.
package counter

import (
	"net/http"

	"github.com/gotribes/tribes/session/delta"
)

// Attr is the name of the session attribute holding the count.
const Attr = "counter"

// Next adds one to the count of r's session, creating the session if the request has none,
// and returns the session and the new count. r must have passed through a
// delta.Middleware. An error is the session's creation failing (its replication, with
// acknowledged replication) or the update's.
func Next(r *http.Request) (*delta.Session, int, error) {
	s, err := delta.FromContext(r.Context()).GetOrCreate()
	if err != nil {
		return nil, 0, err
	}
	v, err := s.Update(Attr, func(old any) (any, error) {
		n, _ := old.(int)
		return n + 1, nil
	})
	if err != nil {
		return s, 0, err
	}
	return s, v.(int), nil
}
