// Package node wires the usual channel in one call: the TCP transport (transport/nio), a
// multicast (membership/mcast), static (membership/static, membership/staticsvc) or cloud
// (membership/cloud: Kubernetes API or DNS) membership, and an interceptor stack written
// as text (interceptors.Build), with one logger for all of them.
//
//	ch, err := node.New(node.Config{
//		Multicast:    &mcastCfg,            // nil: static membership of StaticMembers
//		Interceptors: "ping,tcpfailure",    // first = closest to the application
//		Logger:       logger,
//	})
//	err = ch.Start(ctx, channel.SvcAll)
//
// The channel comes back unstarted; ch.Transport(), ch.Membership() and
// ch.Interceptors() give the parts. Anything more particular (another transport, a
// membership of your own, channeltest) goes through channel.New directly.
package node
