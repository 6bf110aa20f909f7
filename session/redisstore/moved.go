package redisstore

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// An id change (ChangeID, then Save) leaves under the old key, instead of deleting it,
// a forward to the new id for movedTTL: 8 zero bytes (version 0, which no session has)
// and the new id. Load reads a forward as no session (ErrNotFound); Delete, and so
// Invalidate, follows it and removes the session under its new id too. A request that
// loaded the session before a concurrent request changed its id (a logout in one tab
// while another logs in) thereby still invalidates it: invalidation wins over a
// concurrent rename as over any concurrent save.
//
// movedTTL bounds how long after the rename such a request may invalidate it: as long
// as a request that loaded the old id may still be running.
const movedTTL = 5 * time.Minute

// maxForwards bounds the forwards Delete follows (one per id change during movedTTL).
const maxForwards = 8

// forwardOf returns the id a stored value forwards to, if it is a forward: 8 zero bytes
// and a session id (sessionhttp.ValidID; Save writes newID's).
func forwardOf(value string) (string, bool) {
	if len(value) < versionLen || value[:versionLen] != strings.Repeat("\x00", versionLen) ||
		!sessionhttp.ValidID(value[versionLen:]) {
		return "", false
	}
	return value[versionLen:], true
}

// deleteScript deletes KEYS[1] and, while the deleted value was a forward (forwardOf),
// the key of the id it names (ARGV[1] .. id: the store's key space), at most ARGV[2]
// keys in all. Keys of another type than a string are deleted as they are.
var deleteScript = redis.NewScript(`
local zeros = string.rep('\0', 8)
local k = KEYS[1]
for i = 1, tonumber(ARGV[2]) do
  local nextid = nil
  if redis.call('TYPE', k).ok == 'string' and redis.call('STRLEN', k) <= 8 + 256
      and redis.call('GETRANGE', k, 0, 7) == zeros then
    nextid = string.sub(redis.call('GET', k), 9)
    if not string.match(nextid, '^[A-Za-z0-9._-]+$') then nextid = nil end
  end
  redis.call('DEL', k)
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
	return unavailable(deleteScript.Run(ctx, st.cfg.Client, []string{st.Key(id)}, st.Key(""), maxForwards).Err())
}
