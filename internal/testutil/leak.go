package testutil

import "go.uber.org/goleak"

// IgnoreGnetPool returns goleak's options for gnet's worker pool (package ants), which
// gnet starts once per process and never stops: not a leak of the code under test.
func IgnoreGnetPool() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	}
}
