package replmap

import (
	"context"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
)

// publishCopies sends key and value to every map member (ReplicatedMap.publishEntryInfo).
// The members that could not take the copy are left out of the backup nodes returned;
// one whose listener failed (FAIL_ACK, Java's RemoteProcessException) has it all the
// same and stays.
func (m *Map) publishCopies(ctx context.Context, kb, vb []byte, stamp, clock uint64, unordered bool) ([]channel.Member, error) {
	backup := m.Members()
	if len(backup) == 0 {
		return []channel.Member{}, nil
	}
	err := m.send(ctx, backup, &message{Type: msgCopy, Key: kb, Value: vb, Primary: m.local(), Nodes: backup, Stamp: stamp, Clock: clock,
		Unordered: unordered})
	faulty := channel.FaultyMembers(err)
	if err != nil && len(faulty) == 0 {
		return nil, err
	}
	var lost []channel.Member
	for _, f := range faulty {
		if !errors.Is(f.Err, channel.ErrAckFailed) {
			lost = append(lost, f.Member)
		}
	}
	if len(lost) > 0 {
		m.log.Warn("replmap: copy not replicated everywhere", "map", m.cfg.Name, "missing", len(lost), "err", err)
	}
	return exclude(backup, lost), nil
}

// notifyPrimary tells every map member that the local node is now the primary of the
// entry under key (MSG_NOTIFY_MAPMEMBER, as ReplicatedMap does where LazyReplicatedMap
// publishes anew) and returns them as its backup nodes.
func (m *Map) notifyPrimary(ctx context.Context, k string) ([]channel.Member, error) {
	nodes := m.Members()
	if len(nodes) == 0 {
		return nodes, nil
	}
	if err := m.send(ctx, nodes, &message{Type: msgNotifyMember, Key: []byte(k), Primary: m.local(), Nodes: nodes}); err != nil {
		return nodes, fmt.Errorf("replmap: notify primary: %w", err)
	}
	return nodes, nil
}
