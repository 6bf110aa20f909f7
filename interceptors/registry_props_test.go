package interceptors

import (
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// Tomcat reads integer attributes with Integer.parseInt / Long.parseLong: "010" is ten.
// Props.Int parses with base 0, so a leading zero makes the number octal: maxQueue=010
// becomes 8 (while Props.Duration reads expire=010 as 10 ms), and maxQueue=09 is an error.
func TestBuildIntegerWithLeadingZeroIsDecimal(t *testing.T) {
	ics, err := Build("order(maxQueue=010)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ics[0].(*Order).Config().MaxQueue; got != 10 {
		t.Fatalf("order(maxQueue=010): MaxQueue %d, want 10 as Tomcat reads it", got)
	}
}

// A property given twice in one interceptor's spec is silently resolved to the last value
// (a Tomcat <Interceptor> element cannot carry an attribute twice: the XML is refused).
// Build reports unknown properties; a repeated one is at least as likely a mistake.
func TestBuildRefusesRepeatedProperty(t *testing.T) {
	ics, err := Build("order(expire=1000;expire=5000)", nil)
	if err == nil {
		t.Fatalf("order(expire=1000;expire=5000) accepted, Expire %v", ics[0].(*Order).Config().Expire)
	}
	if !errors.Is(err, channel.ErrInvalidConfig) || !strings.Contains(err.Error(), `"expire"`) {
		t.Fatalf("error %v, want ErrInvalidConfig naming \"expire\"", err)
	}
}

// Integer properties are decimal (Integer.parseInt), or hexadecimal after 0x for option
// flags (a Go extension); Go's other literal forms are refused.
func TestBuildIntegerForms(t *testing.T) {
	for v, want := range map[string]int64{"10": 10, "010": 10, "09": 9, "+7": 7, "-1": -1,
		"0x0100": 0x100, "0X800": 0x800, "-0x10": -16} {
		if got, err := parseInt(v); err != nil || got != want {
			t.Errorf("parseInt(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"", "0x", "0x-5", "0b101", "0o17", "1_000", "1e3", "ten"} {
		if got, err := parseInt(v); err == nil {
			t.Errorf("parseInt(%q) = %d, want an error", v, got)
		}
	}
	ics, err := Build("order(optionFlag=0x0100;maxQueue=09)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*Order).Config(); c.Flag != 0x0100 || c.MaxQueue != 9 {
		t.Fatalf("order(optionFlag=0x0100;maxQueue=09): Flag %#x, MaxQueue %d", c.Flag, c.MaxQueue)
	}
}
