package backup

// SetReplicateWaitHook makes f run whenever a Replicate waits for another Replicate of
// the same session, and returns a function restoring the previous hook.
func SetReplicateWaitHook(f func()) (restore func()) {
	old := replicateWaitHook
	replicateWaitHook = f
	return func() { replicateWaitHook = old }
}
