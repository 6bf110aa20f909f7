package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// An id change (ChangeID, then Save) deletes the old key and leaves, for movedTTL, a
// forward to the new id under a key of its own, movedKey(old id): a string holding the
// new id. Load finds no session under the old id (ErrNotFound); Delete, and so
// Invalidate, follows the forward and removes the session under its new id too. A
// request that loaded the session before a concurrent request changed its id (a logout
// in one tab while another logs in) thereby still invalidates it: invalidation wins over
// a concurrent rename as over any concurrent save.
//
// The forward is not under the old key so that a node of the release before forwards
// existed, during a rolling upgrade, finds no key there and reads no session, as it did
// then: it would decode anything under the key, and read a forward as a corrupt session.
// Such a node's own id changes delete the old key and leave no forward, so a logout racing
// a login served by it removes nothing (that release's behaviour); nor does its Delete
// follow forwards.
//
// A forward of the release that wrote it under the old key itself (8 zero bytes, which
// no session's version is, and the new id: forwardOf) is still read as no session and
// followed by Delete.
//
// movedTTL bounds how long after the rename such a request may invalidate it: as long
// as a request that loaded the old id may still be running.
const movedTTL = 5 * time.Minute

// maxForwards bounds the forwards Delete follows (one per id change during movedTTL).
const maxForwards = 8

// movedKey is the key of the forward left by an id change from id; it is no session's
// key of this store, as ids have no ':'.
func (st *Store) movedKey(id string) string { return st.Key(id) + movedSuffix }

const movedSuffix = ":moved"

// forwardOf returns the id a stored value forwards to, if it is a forward written under
// the old key itself: 8 zero bytes and a session id (sessionhttp.ValidID).
func forwardOf(value string) (string, bool) {
	if len(value) < versionLen || value[:versionLen] != strings.Repeat("\x00", versionLen) ||
		!sessionhttp.ValidID(value[versionLen:]) {
		return "", false
	}
	return value[versionLen:], true
}

// deleteScript deletes KEYS[1] and, while there is a forward from it (its key plus
// ARGV[3], or a forward in its value: forwardOf), the forward and the key of the id it
// names (ARGV[1] .. id: the store's key space), at most ARGV[2] sessions in all. Keys of
// another type than a string are deleted as they are; a forward that names no valid id
// is deleted and not followed.
var deleteScript = redis.NewScript(`
local zeros = string.rep('\0', 8)
local k = KEYS[1]
for i = 1, tonumber(ARGV[2]) do
  local nextid = nil
  local fk = k .. ARGV[3]
  if redis.call('TYPE', fk).ok == 'string' and redis.call('STRLEN', fk) <= 256 then
    nextid = redis.call('GET', fk)
  elseif redis.call('TYPE', k).ok == 'string' and redis.call('STRLEN', k) <= 8 + 256
      and redis.call('GETRANGE', k, 0, 7) == zeros then
    nextid = string.sub(redis.call('GET', k), 9)
  end
  if nextid ~= nil and not string.match(nextid, '^[A-Za-z0-9._-]+$') then nextid = nil end
  redis.call('DEL', k, fk)
  if nextid == nil then return 1 end
  k = ARGV[1] .. nextid
end
return 1
`)

// Delete removes the session stored under id, if any, and, if its id was changed in
// the last movedTTL (id holds a forward), the session under its new id.
func (st *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Timeout)
	defer cancel()
	return unavailable(deleteScript.Run(ctx, st.cfg.Client, []string{st.Key(id)}, st.Key(""), maxForwards, movedSuffix).Err())
}
