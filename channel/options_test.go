package channel

import "testing"

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
		if _, err := ParseSendOptions(bad); err == nil {
			t.Errorf("ParseSendOptions(%q) accepted", bad)
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
