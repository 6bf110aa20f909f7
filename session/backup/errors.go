package backup

import "errors"

// Errors.
var (
	// ErrLimit: a change would make a session larger than Limits.MaxSessionBytes.
	ErrLimit = errors.New("backup: session too large")
	// ErrTooManyChanges: a session's changes without a value are more than a diff
	// carries (Limits.Java.MaxEntries); Session.Diff forgot them, and the session's
	// next replication sends it in full.
	ErrTooManyChanges = errors.New("backup: more changes than a diff carries; the session goes in full")
	// ErrOtherID: a diff for another session than the one it was applied to.
	ErrOtherID = errors.New("backup: diff of another session")
	// ErrNotSession: a map value that is not a DeltaSession.
	ErrNotSession = errors.New("backup: not a DeltaSession")
	// ErrIDTaken: ChangeSessionID's new id names another session.
	ErrIDTaken = errors.New("backup: session id taken")
	// ErrInvalidSessionID: ChangeSessionID's new id is not 1 to 256 characters from
	// [A-Za-z0-9._-], the ids the middleware reads from a cookie or a URL.
	ErrInvalidSessionID = errors.New("backup: invalid session id")
	// ErrListenerName: AttachListener's name is empty.
	ErrListenerName = errors.New("backup: empty listener name")
	// ErrNotPrimary: a request changed a session that, meanwhile, another node took over
	// (its own request made it the primary) or that was removed: the changes are on no
	// other node, and the middleware answers 503.
	ErrNotPrimary = errors.New("backup: session no longer served by this node; its changes were not replicated")
)
