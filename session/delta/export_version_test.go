package delta

// VersionOf returns s's version (tests only).
func VersionOf(s *Session) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}
