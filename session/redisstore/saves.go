package redisstore

import "time"

// Every save records its token (the random UniqueID of the value it writes, encode)
// beside the session, under savesKey: a Redis list of the latest maxSaveRecords tokens
// of saves of that id, newest first, expiring saveRecordTTL after the latest one. The
// save script looks for its own token first: finding it, it is a resend of a save that
// already ran (go-redis sends a command again when the connection broke before its
// reply came, MaxRetries) and it reports success without writing again, even if
// another request saved, renamed or invalidated the session in between. The caller's
// write did commit; that a later one replaced it is what would have happened had the
// reply arrived. A session's own value cannot tell this: it holds the later save's
// bytes, or nothing.
//
// The record is bounded in memory by both limits: a resend comes within the save's
// Config.Timeout (go-redis does not retry past its context's deadline), so
// saveRecordTTL is Timeout and a margin; and a resend that finds more than
// maxSaveRecords later saves of the session in between (within one Timeout) is
// reported as ErrConflict, as it was before the record.
const (
	maxSaveRecords   = 16
	saveRecordMargin = time.Minute
)

// savesKey is the key of the record of session id's saves; it is no session's key of
// this store, as ids have no ':'.
func (st *Store) savesKey(id string) string { return st.Key(id) + ":saves" }

// saveRecordTTL is how long the record of a session's saves outlives its latest save.
func (st *Store) saveRecordTTL() time.Duration { return st.cfg.Timeout + saveRecordMargin }
