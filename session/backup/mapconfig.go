package backup

import (
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/replmap"
)

// BackupManager's settings of its map.
const (
	// RPCTimeout is BackupManager's rpcTimeout (15 s).
	RPCTimeout = 15 * time.Second
	// AccessTimeout is BackupManager's accessTimeout (5 s).
	AccessTimeout = 5 * time.Second
	// SendOptions is BackupManager's mapSendOptions (6: USE_ACK|SYNC_ACK).
	SendOptions = channel.OptUseAck | channel.OptSyncAck
)

// MapName returns the name of the map BackupManager keeps the sessions of manager in:
// "<manager name>-map" (the manager name is the cluster's name of the context, e.g.
// "localhost#/app").
func MapName(manager string) string { return manager + "-map" }

// MapConfig returns the replmap.Config of the map of manager on ch as Tomcat's
// BackupManager configures it (MapName, RPCTimeout, AccessTimeout, SendOptions), with
// Codec{Limits: limits} as its Values. Set the other fields (Logger, the map's limits)
// on the result; with the map's Limits set, set the Codec's MapLimits to them too, so that
// its full copies fit what a map configured alike reads (a Manager does:
// TestFullCopyPastTheMapsMaxHandles).
func MapConfig(ch *channel.Channel, manager string, limits Limits) replmap.Config {
	return replmap.Config{Channel: ch, Name: MapName(manager), RPCTimeout: RPCTimeout, AccessTimeout: AccessTimeout,
		SendOptions: SendOptions, Values: Codec{Limits: limits}}
}
