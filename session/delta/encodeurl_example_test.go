package delta_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gotribes/tribes/session/delta"
)

// A page links to the next one with EncodeURL, as a Tomcat page with
// response.encodeURL: a client that keeps no cookies follows the link and stays in its
// session; a request that sent the cookie gets the plain link.
func ExampleEncodeURL() {
	ms, stop := exampleCluster(delta.Config{Name: "localhost#/shop", MemberWait: -1}, "node1")
	defer stop()
	mw, err := delta.NewMiddleware(ms[0], delta.HTTPConfig{CookiePath: "/shop"})
	if err != nil {
		panic(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := delta.FromContext(r.Context())
		n, _ := sess.Get("visits")
		count, _ := n.(int)
		_ = sess.Set("visits", count+1)
		fmt.Fprintf(w, "visit %d, next: %s", count+1, delta.EncodeURL(r, "/shop/cart?step=2"))
	}))
	serve := func(r *http.Request) string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Body.String()
	}
	w1 := httptest.NewRecorder()
	h.ServeHTTP(w1, httptest.NewRequest(http.MethodGet, "/shop/", nil))
	page1, id := w1.Body.String(), w1.Result().Cookies()[0].Value
	link := page1[strings.Index(page1, "/shop/cart"):]
	fmt.Println(strings.ReplaceAll(page1, id, "ID"))
	fmt.Println(strings.ReplaceAll(serve(httptest.NewRequest(http.MethodGet, link, nil)), id, "ID"))
	withCookie := httptest.NewRequest(http.MethodGet, "/shop/", nil)
	withCookie.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: id})
	fmt.Println(serve(withCookie))
	// Output:
	// visit 1, next: /shop/cart;jsessionid=ID?step=2
	// visit 2, next: /shop/cart;jsessionid=ID?step=2
	// visit 3, next: /shop/cart?step=2
}
