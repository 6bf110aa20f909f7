package backup

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// Defaults.
const (
	// DefaultMaxInactive is a new session's max inactive interval (Tomcat's
	// session-timeout, 30 minutes).
	DefaultMaxInactive = 30 * time.Minute
	// DefaultMaxSessionBytes bounds the attribute and note values (names included) a
	// session holds (no Tomcat equivalent).
	DefaultMaxSessionBytes = 16 << 20
)

// Limits bound what a session read from the network may hold.
type Limits struct {
	// Java decodes the session data and the diffs; its Limits bound each stream (depth,
	// handles, lengths), the stream of a diff's principal and of the one a handler sets
	// among them (TestApplyDiffPrincipalWithItsLimits), and its MaxEntries the
	// attributes of a session and the actions of a diff. The zero value takes jserial's
	// and session/delta's defaults.
	Java delta.JavaCodec
	// MaxSessionBytes bounds the attribute and note values (names included) of a
	// session: a diff that would grow them beyond it is refused (ErrLimit), and so is a
	// Set. 0 means DefaultMaxSessionBytes.
	MaxSessionBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxSessionBytes <= 0 {
		l.MaxSessionBytes = DefaultMaxSessionBytes
	}
	return l
}

// Class names and serialVersionUIDs of a DeltaSession stream.
const (
	deltaSessionClass    = "org.apache.catalina.ha.session.DeltaSession"
	deltaSessionSUID     = 296450023228352885 // computed by the JVM: DeltaSession declares none
	standardSessionClass = "org.apache.catalina.session.StandardSession"
)

var (
	// standardSessionDesc is StandardSession's descriptor, written as DeltaSession's
	// superclass; an Externalizable class writes no field values for it.
	standardSessionDesc = &jserial.ClassDesc{Name: standardSessionClass, SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{
			{Type: 'J', Name: "creationTime"},
			{Type: 'Z', Name: "isNew"},
			{Type: 'Z', Name: "isValid"},
			{Type: 'J', Name: "lastAccessedTime"},
			{Type: 'I', Name: "maxInactiveInterval"},
			{Type: 'J', Name: "thisAccessedTime"},
			{Type: 'L', Name: "attributes", Signature: "Ljava/util/concurrent/ConcurrentMap;"},
			{Type: 'L', Name: "id", Signature: "Ljava/lang/String;"},
		}}
	deltaSessionDesc = &jserial.ClassDesc{Name: deltaSessionClass, SUID: deltaSessionSUID,
		Flags: jserial.SCExternalizable | jserial.SCBlockData, Super: standardSessionDesc}
)

// Codec is the replmap.ValueCodec of BackupManager's map (replmap.Config.Values): a
// DeltaSession received in full becomes a *Session, and a *Session is sent as the
// DeltaSession stream Tomcat reads.
type Codec struct {
	// Limits bound the sessions it decodes, and the diffs they apply later.
	Limits Limits
	// MapLimits are the limits a receiving map decodes a session's stream with (its
	// replmap.Config.Limits; MaxBytes is not used). Encode fits a full copy under them
	// too: the stream's handles are one table for all its attribute names and values,
	// notes and listeners (TestFullCopyPastTheMapsMaxHandles), and each value is read
	// with their MaxArrayLen and MaxDepth less one where tighter than Limits.Java's
	// (TestFullCopyWithinTheMapsArrayLenAndDepth). A Manager sets them to its own map's.
	// Zero fields are jserial's defaults.
	MapLimits jserial.DecoderConfig
	// fullOut, when set (a Manager's map), counts the values Encode leaves out
	// (Stats.FullCopyValuesLeftOut).
	fullOut *atomic.Uint64
	// report, when set (a Manager's map), is given to the sessions Decode returns.
	report *diffReport
}

// Decode returns the *Session of a decoded DeltaSession object; other values are an
// error wrapping ErrNotSession. The Go forms of the session's values may take at most
// Limits.Java.MaxExpansion (delta.DefaultMaxExpansion) times the size of the object's
// stream plus 128 KiB, and never more than Limits.Java.Limits.MaxBytes: beyond, the error
// wraps delta.ErrDecodeBudget.
func (c Codec) Decode(v any) (any, error) {
	o, ok := v.(*jserial.Object)
	if !ok || o.Class.Name != deltaSessionClass || !o.Class.Externalizable() {
		return nil, fmt.Errorf("%w: %T", ErrNotSession, v)
	}
	l := c.Limits.withDefaults()
	java, err := sessionBudget(l.Java, o)
	if err != nil {
		return nil, fmt.Errorf("%w: session data: %w", delta.ErrMalformed, err)
	}
	st, err := java.DecodeSessionData(o.External)
	if err != nil {
		return nil, err
	}
	// One listener per name, as AttachListener and a diff keep them: a Tomcat session may
	// list its single sign-on listener twice, which would be told of each event twice
	// (TestFullCopyWithListenerTwice).
	st.Listeners = uniqueNames(st.Listeners)
	// DecodeSessionData holds each attribute name once, with the last value: Tomcat's
	// readObject puts the attributes into its map in the stream's order, a later value of
	// a name replacing the earlier (TestFullCopyWithAnAttributeTwice).
	s := &Session{st: st, replicated: time.Now(), limits: l, report: c.report}
	if n := s.attrBytes(); n > l.MaxSessionBytes {
		return nil, fmt.Errorf("%w: session %s holds %d bytes, more than %d", ErrLimit, st.ID, n, l.MaxSessionBytes)
	}
	return s, nil
}

// Encode returns the DeltaSession object of a *Session; other values are an error
// wrapping ErrNotSession. Its values are read with Limits.Java, as a node configured
// alike reads them (TestEncodeWithTheConfiguredLimits); one past them (a session
// received in full may hold one) is left out, and the Manager's next Replicate of the
// session returns an error wrapping delta.ErrMessageLimit naming it
// (TestFullCopyLeavesOutAValuePastLimits). The Codec of a Manager's map counts it in
// Stats.FullCopyValuesLeftOut as it leaves it out, whether a Replicate follows or not
// (TestFullCopyValuesLeftOutCountedWhereTheyHappen).
func (c Codec) Encode(v any) (any, error) {
	s, ok := v.(*Session)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrNotSession, v)
	}
	s.mu.Lock()
	id := s.st.ID
	ext, err := s.fullCopy(copyLimits{java: c.Limits.Java, wire: c.MapLimits}, c.fullOut)
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("backup: full copy of session %s: %w", id, err)
	}
	return &jserial.Object{Class: deltaSessionDesc, External: ext}, nil
}

// sessionSlack is what a session's values may take beyond MaxExpansion times its stream
// (session/delta's budget has the same).
const sessionSlack = 128 << 10

// sessionBudget returns java with Limits.MaxBytes, what DecodeSessionData lets the Go
// forms of a session's values take, at most MaxExpansion times the size of o's stream plus
// sessionSlack. DecodeSessionData does not see that size (the map decoded the stream):
// it is measured by writing o again, which writes each object the decoded values share
// once, as the stream did. Each attribute value is written anew into its own stream, so
// without this a 270 KB session whose attributes share one object became 64 MiB.
func sessionBudget(java delta.JavaCodec, o *jserial.Object) (delta.JavaCodec, error) {
	b, err := jserial.Marshal(o)
	if err != nil {
		return java, err
	}
	x := int64(java.MaxExpansion)
	if x <= 0 {
		x = delta.DefaultMaxExpansion
	}
	limit := java.Limits.MaxBytes
	if limit <= 0 {
		limit = jserial.DefaultMaxBytes
	}
	if size := int64(len(b)); size <= (limit-sessionSlack)/x {
		limit = x*size + sessionSlack
	}
	java.Limits.MaxBytes = limit
	return java, nil
}

// uniqueNames returns names without their repetitions, in the order of their first
// occurrence (names itself when it repeats none), in time linear in their number.
func uniqueNames(names []string) []string {
	if len(names) < 2 {
		return names
	}
	seen := make(map[string]bool, len(names))
	out := names[:0:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == len(names) {
		return names
	}
	return out
}
