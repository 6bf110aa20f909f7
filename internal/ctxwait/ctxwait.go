// Package ctxwait waits for a piece of work to finish within a context.
package ctxwait

import "context"

// Done waits until done is closed or ctx ends, and reports whether done was closed. When
// both happen, done wins: work that finished just as ctx ended counts as finished.
func Done(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}
