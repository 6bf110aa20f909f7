package javapeer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The map commands drive a LazyReplicatedMap or ReplicatedMap on the peer's channel (MapPeer.java); the
// node needs a membership service (--static-membership) for the map to see members.

// MapStart creates the peer's map, a LazyReplicatedMap or with replicated a
// ReplicatedMap, named name (no white space), with the RPC timeout rpcTimeout; it
// returns when the constructor's INIT, state transfer and START are done. The map then
// sends with the Tribes send options sendOptions (its channelSendOptions).
func (p *Peer) MapStart(ctx context.Context, name string, rpcTimeout time.Duration, replicated bool, sendOptions int) error {
	if err := mapWord("name", name); err != nil {
		return err
	}
	kind := "lazy"
	if replicated {
		kind = "replicated"
	}
	_, err := p.command(ctx, fmt.Sprintf("map-start %s %d %s %d", name, rpcTimeout.Milliseconds(), kind, sendOptions))
	return err
}

// MapPut puts the String value under the String key.
func (p *Peer) MapPut(ctx context.Context, key, value string) error {
	return p.mapKeyed(ctx, "map-put", key, value)
}

// MapFill puts n entries: the String "k<i>" to the Integer i, for i from 0 to n-1.
func (p *Peer) MapFill(ctx context.Context, n int) error {
	_, err := p.command(ctx, fmt.Sprintf("map-fill %d", n))
	return err
}

// MapGet returns the map's value of the String key (its toString) and whether there is one.
func (p *Peer) MapGet(ctx context.Context, key string) (value string, found bool, err error) {
	if err := mapWord("key", key); err != nil {
		return "", false, err
	}
	ev, err := p.command(ctx, "map-get "+key)
	if err != nil {
		return "", false, err
	}
	var r struct {
		Found bool   `json:"found"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return "", false, fmt.Errorf("javapeer: bad mapGet %q: %w", ev.Line, err)
	}
	return r.Value, r.Found, nil
}

// MapNotesPut puts a MapNotes (MapNotes.java, a ReplicatedMapEntry; internal/mapnotes
// is its Go form) holding item under the String key.
func (p *Peer) MapNotesPut(ctx context.Context, key, item string) error {
	return p.mapKeyed(ctx, "map-notes-put", key, item)
}

// MapNotesAdd adds item to the MapNotes under key and replicates it (replicate(key,
// false)): its diff goes to the entry's backup nodes. The peer's map must be its primary.
func (p *Peer) MapNotesAdd(ctx context.Context, key, item string) error {
	return p.mapKeyed(ctx, "map-notes-add", key, item)
}

// MapNotesChange adds item to the MapNotes under key without replicating it: the value
// is dirty, and the next replicate (MapNotesAdd) sends item in its diff.
func (p *Peer) MapNotesChange(ctx context.Context, key, item string) error {
	return p.mapKeyed(ctx, "map-notes-change", key, item)
}

// MapNotesTouch replicates the MapNotes under key unchanged (replicate(key, false)):
// since MapNotes asks for access replication, Java sends MSG_ACCESS to the entry's
// backup nodes. The peer's map must be its primary.
func (p *Peer) MapNotesTouch(ctx context.Context, key string) error {
	if err := mapWord("key", key); err != nil {
		return err
	}
	_, err := p.command(ctx, "map-notes-touch "+key)
	return err
}

// MapNotesAccessed reports whether the peer's map holds a MapNotes value under key (as
// its primary, backup or copy; it does not get the key) and how many times that value
// was told of an access (accessEntry: MSG_ACCESS, MSG_NOTIFY_MAPMEMBER).
func (p *Peer) MapNotesAccessed(ctx context.Context, key string) (held bool, accessed int, err error) {
	if err := mapWord("key", key); err != nil {
		return false, 0, err
	}
	ev, err := p.command(ctx, "map-notes-accessed "+key)
	if err != nil {
		return false, 0, err
	}
	var r struct {
		Held     bool `json:"held"`
		Accessed int  `json:"accessed"`
	}
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return false, 0, fmt.Errorf("javapeer: bad mapNotesAccessed %q: %w", ev.Line, err)
	}
	return r.Held, r.Accessed, nil
}

// mapKeyed runs a map command with a key and a value, both without white space.
func (p *Peer) mapKeyed(ctx context.Context, cmd, key, value string) error {
	if err := mapWord("key", key); err != nil {
		return err
	}
	if err := mapWord("value", value); err != nil {
		return err
	}
	_, err := p.command(ctx, cmd+" "+key+" "+value)
	return err
}

// MapInfo is the answer to MapKeys.
type MapInfo struct {
	Keys    []string `json:"keys"`    // keySetFull: every key, proxies included
	Size    int      `json:"size"`    // size(): entries holding a value
	Members int      `json:"members"` // map members
}

// MapKeys returns the map's keys, size and member count.
func (p *Peer) MapKeys(ctx context.Context) (MapInfo, error) {
	ev, err := p.command(ctx, "map-keys")
	if err != nil {
		return MapInfo{}, err
	}
	var r MapInfo
	if err := json.Unmarshal([]byte(ev.Line), &r); err != nil {
		return MapInfo{}, fmt.Errorf("javapeer: bad mapKeys %q: %w", ev.Line, err)
	}
	return r, nil
}

// MapStop stops the peer's map (breakdown: MSG_STOP to the other members); MapStart may
// create a new one.
func (p *Peer) MapStop(ctx context.Context) error {
	_, err := p.command(ctx, "map-stop")
	return err
}

// MapSetAccessTimeout sets the map's accessTimeout: how long its ping waits and how long
// a map member may be silent.
func (p *Peer) MapSetAccessTimeout(ctx context.Context, d time.Duration) error {
	_, err := p.command(ctx, fmt.Sprintf("map-access-timeout %d", d.Milliseconds()))
	return err
}

// MapHeartbeat runs the map's heartbeat now: it pings the channel members and drops the
// map members silent for the access timeout.
func (p *Peer) MapHeartbeat(ctx context.Context) error {
	_, err := p.command(ctx, "map-heartbeat")
	return err
}

func mapWord(what, s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("javapeer: map %s %q is empty or contains white space", what, s)
	}
	return nil
}
