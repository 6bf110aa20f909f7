package sessionhttp

import "net/http"

// representation lists the response headers that describe the handler's body (its
// representation and how to cache it): they are wrong on the error response a
// middleware writes instead of that body.
var representation = []string{
	"Content-Length", "Content-Type", "Content-Encoding", "Content-Language", "Content-Location",
	"Content-Range", "Content-Disposition", "Content-Digest", "Repr-Digest", "Digest",
	"ETag", "Last-Modified", "Expires", "Cache-Control", "Trailer", "Accept-Ranges",
}

// ClearRepresentation removes from h the headers a handler set for its own body
// (Content-Encoding, Content-Disposition, ETag, Cache-Control, ...), before a middleware
// replaces the handler's response by its error response: a "Content-Encoding: gzip"
// left on a plain-text error makes it unreadable for the client, a
// "Content-Disposition: attachment" turns it into a download. Other headers (Set-Cookie,
// security headers, Vary) stay.
func ClearRepresentation(h http.Header) {
	for _, k := range representation {
		h.Del(k)
	}
}
