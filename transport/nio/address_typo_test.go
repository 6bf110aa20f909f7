package nio

import (
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// A mistyped IPv4 address is refused by New, naming the field and the value, instead of
// being taken for a host name and failing at Start with a DNS error ("lookup 127.0.0.300:
// no such host"). Host names are still accepted, and looked up at Start.
func TestNewRefusesAMistypedIPv4Address(t *testing.T) {
	for _, tc := range []struct{ addr, adv, want string }{
		{"127.0.0.300", "", `address: "127.0.0.300" is not an IP address`},
		{"10.0.0", "", `address: "10.0.0" is not an IP address`},
		{"127.0.0.1", "192.168.1.256", `advertise address: "192.168.1.256" is not an IP address`},
	} {
		_, err := New(Config{Address: tc.addr, AdvertiseAddress: tc.adv})
		if !errors.Is(err, channel.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Address %q AdvertiseAddress %q: %v, want ErrInvalidConfig saying %q", tc.addr, tc.adv, err, tc.want)
		}
	}
	for _, ok := range []string{"localhost", "node-1.example", "127.0.0.1", "::1", "auto"} {
		if _, err := New(Config{Address: ok}); err != nil {
			t.Errorf("Address %q: %v", ok, err)
		}
	}
}
