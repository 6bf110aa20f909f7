// Package static is a fixed-list membership service for a channel: the members are the ones
// configured, for clusters where multicast is not available. It is the Go counterpart of
// configuring Tribes with static members; the interceptor-based variant
// (StaticMembershipInterceptor), which exchanges notices with Java nodes, lives in
// package interceptors.
//
// Members written "host:port:uniqueIdHex", the format of tribesdemo's --static flag, are
// read by wire.ParseMemberList.
package static
