package channel_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// valueBase embeds InterceptorBase by value, as most interceptors do.
type valueBase struct{ channel.InterceptorBase }

// ptrBase embeds *InterceptorBase, the other documented form.
type ptrBase struct{ *channel.InterceptorBase }

// wrapper embeds another interceptor, reaching its InterceptorBase through that pointer.
type wrapper struct{ *valueBase }

// TestNewTypedNilInterceptor: a nil pointer of an interceptor type (a
// configuration mistake such as an interceptor variable left unset), or an interceptor
// whose InterceptorBase lies behind a nil embedded pointer, is bad input: New must refuse
// it with ErrInvalidConfig, as it does for a nil interface, not panic.
func TestNewTypedNilInterceptor(t *testing.T) {
	for _, tc := range []struct {
		name string
		ic   channel.Interceptor
	}{
		{"value-embedding", (*valueBase)(nil)},
		{"pointer-embedding", (*ptrBase)(nil)},
		{"nil embedded base", &ptrBase{}},
		{"nil embedded interceptor", wrapper{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := channeltest.NewNetwork().NewNode()
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("New panicked on a typed-nil interceptor instead of returning ErrInvalidConfig: %v", p)
					}
				}()
				_, err = channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
					Interceptors: []channel.Interceptor{tc.ic}})
			}()
			if !errors.Is(err, channel.ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
}
