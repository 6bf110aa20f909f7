package interceptors

import (
	"reflect"
	"testing"
)

// Every interceptor has a Stats() snapshot except DomainFilter, which counts what it
// refused with Refused(), and SimpleCoordinator and StaticMembership, which count nothing
// (docs/interceptors.md).
func TestInterceptorsWithStats(t *testing.T) {
	for _, tc := range []struct {
		v     any
		stats bool
	}{
		{(*MessageDispatch)(nil), true},
		{(*Gzip)(nil), true},
		{(*Zstd)(nil), true},
		{(*S2)(nil), true},
		{(*Order)(nil), true},
		{(*Fragmentation)(nil), true},
		{(*Encrypt)(nil), true},
		{(*TwoPhaseCommit)(nil), true},
		{(*Throughput)(nil), true},
		{(*SimpleCoordinator)(nil), false},
		{(*NonBlockingCoordinator)(nil), true},
		{(*TCPFailureDetector)(nil), true},
		{(*TCPPing)(nil), true},
		{(*DomainFilter)(nil), false},
		{(*StaticMembership)(nil), false},
	} {
		typ := reflect.TypeOf(tc.v)
		m, ok := typ.MethodByName("Stats")
		if ok != tc.stats || ok && (m.Type.NumIn() != 1 || m.Type.NumOut() != 1) {
			t.Errorf("%v: Stats() %v, want %v", typ, ok, tc.stats)
		}
	}
	if _, ok := reflect.TypeOf((*DomainFilter)(nil)).MethodByName("Refused"); !ok {
		t.Error("DomainFilter has no Refused()")
	}
}
