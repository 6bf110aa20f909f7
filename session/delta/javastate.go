package delta

import (
	"fmt"

	"github.com/gotribes/tribes/jserial"
)

// The parts of Tomcat's format that BackupManager's map carries outside a
// SessionMessageImpl: a DeltaSession's externalized content (the value of its map entry)
// and a DeltaRequest on its own (the entry's diff). Package session/backup uses them.

// DecodeSessionData reads one session from contents, what DeltaSession.writeExternal
// wrote (a *jserial.Object's External): the layout of a session in EventAllSessionData.
// Attribute values come back as Java serialization streams (JavaValueCodec's form).
// Not seeing the size of the stream contents was read from, it lets their values' Go
// forms take at most Limits.MaxBytes (jserial's default: 64 MiB), beyond which the error
// wraps ErrDecodeBudget. Errors wrap ErrMalformed.
func (c JavaCodec) DecodeSessionData(contents []any) (SessionState, error) {
	r := jserial.NewDataReader(contents)
	limit := c.Limits.MaxBytes
	if limit <= 0 {
		limit = jserial.DefaultMaxBytes
	}
	// Every value takes at least one element: a count beyond twice their number fails.
	s, err := c.decodeSession(r, 4*len(contents)+4, newJavaRefs(newBudget(int(min(limit, maxBudget)))))
	if err == nil && !r.Done() {
		err = fmt.Errorf("trailing data")
	}
	if err != nil {
		return SessionState{}, fmt.Errorf("%w: session data: %w", ErrMalformed, err)
	}
	return s, nil
}

// SessionData returns what DeltaSession.writeExternal writes for s (the External of the
// session's *jserial.Object). Attribute values must be Java serialization streams; each
// is read with c.Limits (jserial's defaults for a zero field), and one beyond them is
// refused with an error wrapping ErrMessageLimit and jserial.ErrLimit, as a node
// configured alike would refuse it (TestEncodeWithTheConfiguredLimits).
func (c JavaCodec) SessionData(s *SessionState) ([]any, error) {
	var w jserial.DataWriter
	if err := c.encodeSession(&w, s); err != nil {
		return nil, fmt.Errorf("delta: session data: %w", err)
	}
	return w.Contents(), nil
}

// DecodeDeltaRequest parses the stream DeltaRequest.serialize writes (DeltaSession.getDiff):
// the session id and the actions, as in an EventDelta. Errors wrap ErrMalformed.
func (c JavaCodec) DecodeDeltaRequest(data []byte) (sessionID string, actions []Action, err error) {
	contents, err := jserial.UnmarshalAll(data, c.Limits)
	if err == nil {
		r := jserial.NewDataReader(contents)
		sessionID, actions, err = c.decodeActions(r, len(data))
		if err == nil && !r.Done() {
			err = fmt.Errorf("trailing data")
		}
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: delta request: %w", ErrMalformed, err)
	}
	return sessionID, actions, nil
}

// EncodeDeltaRequest returns the stream DeltaRequest.serialize writes for the actions of
// session sessionID. Attribute and note values must be in JavaValueCodec's form. They
// are read with c.Limits, as DecodeDeltaRequest reads them: a value beyond them, or
// values within them alone that together go beyond them, are refused with an error
// wrapping ErrMessageLimit and jserial.ErrLimit (TestEncodeWithTheConfiguredLimits), and
// so are more actions than MaxEntries, which DecodeDeltaRequest refuses
// (TestEncodeDeltaRequestPastMaxEntries).
func (c JavaCodec) EncodeDeltaRequest(sessionID string, actions []Action) ([]byte, error) {
	if n := orDefault(c.MaxEntries, DefaultMaxEntries); len(actions) > n {
		return nil, fmt.Errorf("delta: delta request: %w: %d actions (MaxEntries %d)", ErrMessageLimit, len(actions), n)
	}
	b, err := c.encodeDeltaRequest(sessionID, actions)
	if err != nil {
		return nil, fmt.Errorf("delta: delta request: %w", err)
	}
	return b, nil
}

// DecodePrincipal is the package's DecodePrincipal with the Java stream in the value read
// with c.Limits (jserial's defaults for a zero field), as DecodeDeltaRequest reads the
// stream that carried the principal: session/backup reads a diff's principal, and the
// one its handler sets, with its Limits.Java (TestApplyDiffPrincipalWithItsLimits). The
// name and roles are read with BinaryCodec's default MaxStringLen and MaxEntries. Its
// errors wrap ErrMalformed, and jserial.ErrLimit for a stream beyond c.Limits
// (ExampleJavaCodec_DecodePrincipal).
func (c JavaCodec) DecodePrincipal(b []byte) (*Principal, error) {
	return decodePrincipal(b, principalLimits{java: c.Limits})
}
