package metrics

import "testing"

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"MessagesSent":       "messages_sent",
		"TCPFailureDetector": "tcp_failure_detector",
		"P99us":              "p99us",
		"RememberedIVs":      "remembered_ivs",
		"IDsSeen":            "ids_seen",
		"URLs":               "urls",
		"RootCAs2":           "root_cas2",
		"HTTPStatus":         "http_status",
		"HTTPSession":        "http_session",
		"Ns":                 "ns",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
