package javapeer

// NodeCommand returns the full command line (program first) that runs the peer's `node`
// subcommand with args, compiling the peer if needed: for running it where Start cannot,
// for example in another network namespace (`ip netns exec NS <command line>`). The JVM
// gets the same options as Start's (-Djava.net.preferIPv4Stack=true, GOTRIBES_JAVA_OPTS).
// Unlike Start it adds no --bind or --port.
func NodeCommand(args ...string) ([]string, error) {
	cp, err := Build()
	if err != nil {
		return nil, err
	}
	cmd := append([]string{"java"}, javaArgs(cp)...)
	cmd = append(cmd, "node")
	return append(cmd, args...), nil
}
