package backup

import "time"

// SetReplicateWaitHook makes f run whenever a Replicate waits for another Replicate of
// the same session, and returns a function restoring the previous hook.
func SetReplicateWaitHook(f func()) (restore func()) {
	old := replicateWaitHook
	replicateWaitHook = f
	return func() { replicateWaitHook = old }
}

// SetExpireHook makes f run whenever the sweep found a session expired, before it
// removes it, and returns a function restoring the previous hook.
func SetExpireHook(f func(id any)) (restore func()) {
	old := expireHook
	expireHook = f
	return func() { expireHook = old }
}

// Expire runs one expiry sweep of m at now.
func Expire(m *Manager, now time.Time) { m.expire(now, nil, nil) }

// SetMapStartedHook makes f run in Start once the map started, before the sweep starts,
// and returns a function restoring the previous hook.
func SetMapStartedHook(f func()) (restore func()) {
	old := mapStartedHook
	mapStartedHook = f
	return func() { mapStartedHook = old }
}

// CountScans makes the lookups of names by a scan add the length of the list scanned to
// *n, and returns a function restoring the previous hook.
func CountScans(n *int) (restore func()) {
	old := scanHook
	scanHook = func(l int) { *n += l }
	return func() { scanHook = old }
}
