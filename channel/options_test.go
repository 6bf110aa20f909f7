package channel

import (
	"errors"
	"strconv"
	"testing"
)

func TestSendOptions(t *testing.T) {
	cases := map[string]SendOptions{
		"byte_message": 1, "byte": 1, "use_ack": 2, "synchronized_ack": 4, "sync": 4, "asynchronous": 8,
		"async": 8, "secure": 16, "udp": 32, "multicast": 64, "use_ack,sync": 6, "3": 3, "0x100": 0x100,
	}
	for in, want := range cases {
		got, err := ParseSendOptions(in)
		if err != nil || got != want {
			t.Errorf("ParseSendOptions(%q) = %v, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fast", "use_ack,bogus", "USE_ACK"} {
		if _, err := ParseSendOptions(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseSendOptions(%q): %v, want ErrInvalidConfig", bad, err)
		}
	}
	if s := (OptUseAck | OptSyncAck | OptByteMessage).String(); s != "sync, use_ack, byte" {
		t.Errorf("String = %q", s)
	}
	if s := SendOptions(0x107).String(); s != "sync, use_ack, byte, 0x100" {
		t.Errorf("String = %q", s)
	}
	if !(OptUseAck | OptSyncAck).IsSyncAck() || OptSyncAck.IsSyncAck() || !OptUseAck.WaitsForAck() {
		t.Error("ack predicates")
	}
}

// FuzzParseSendOptions: text from a flag or a configuration file is parsed or refused
// with ErrInvalidConfig, never a panic; what parses is given back by its number and, for
// Java's bits, by its names.
func FuzzParseSendOptions(f *testing.F) {
	for _, s := range []string{"byte_message", "use_ack, sync", "3", "0x100", "", "use_ack,bogus", " async ,udp,multicast "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseSendOptions(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: %v does not wrap ErrInvalidConfig", s, err)
			}
			return
		}
		if back, err := ParseSendOptions(strconv.FormatUint(uint64(o), 10)); err != nil || back != o {
			t.Fatalf("%q is %d, its number parses as %d, %v", s, o, back, err)
		}
		if o != 0 && o&^0x7f == 0 {
			if back, err := ParseSendOptions(o.JavaString()); err != nil || back != o {
				t.Fatalf("%q is %d, its names %q parse as %d, %v", s, o, o.JavaString(), back, err)
			}
		}
	})
}
