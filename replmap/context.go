package replmap

import (
	"time"

	"github.com/gotribes/tribes/channel"
)

// ReplicatedContextTimeout is the rpcTimeout of the map of Tomcat's ReplicatedContext
// (15 s).
const ReplicatedContextTimeout = 15 * time.Second

// ReplicatedContextConfig returns the Config of the map in which Tomcat's
// ReplicatedContext (org.apache.catalina.ha.context.ReplicatedContext, a Context whose
// ServletContext attributes every node shares) keeps the attributes of the web
// application contextName ("/app", "" for the root): a ReplicatedMap named after the
// context, with its timeout and send options (mapSendOptions, USE_ACK). Values are what
// jserial decodes (a java.lang.String is a string, an Integer an int32, ...; see package
// jserial); Put a Go value of that mapping. Set the other fields (Logger, limits) on the
// result.
func ReplicatedContextConfig(ch *channel.Channel, contextName string) Config {
	return Config{Channel: ch, Name: contextName, Replicated: true, RPCTimeout: ReplicatedContextTimeout,
		SendOptions: channel.OptUseAck}
}
