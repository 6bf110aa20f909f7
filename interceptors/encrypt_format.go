package interceptors

import (
	"strconv"
	"strings"
)

// EncryptFormat is the layout of Encrypt's plaintext, which changed in Tomcat 10.1.56 /
// 11.0.23 / 9.0.119. Both sides of a link must use the same format: a mismatch is not
// reliably detected (see EncryptFormatLegacy).
type EncryptFormat int

const (
	// EncryptFormatTimestamped (the zero value, the default) is the format of Tomcat
	// 10.1.56+ / 11.0.23+ / 9.0.119+ and 12: the plaintext is the message's int64
	// timestamp (ms, big-endian) followed by the message, and the receiver applies the
	// replay window (ReplayWindowTime, ReplayWindowMessageCount, ReplayStateFile).
	EncryptFormatTimestamped EncryptFormat = iota
	// EncryptFormatLegacy is the format of earlier Tomcat releases (10.1.55 and before,
	// 11.0.22 and before, 9.0.118 and before, 10.0.x, 8.5.x): the plaintext is the
	// message alone. It has NO replay protection: a captured message sent again is
	// delivered again, at any later time, for as long as the key is in use. The replay
	// settings are ignored, and ReplayStateFile is a configuration error.
	//
	// A receiver in the legacy format cannot tell a timestamped message from a legacy one
	// whose first 8 bytes are data: it delivers it with the timestamp in front (it logs a
	// warning, once, when the first 8 bytes read as a timestamp within a minute of its clock). A
	// timestamped receiver drops a legacy message (counted in ReplayRejected, or in
	// DecryptFailed if it is shorter than 8 bytes) unless its first 8 bytes happen to be
	// a timestamp within the window.
	EncryptFormatLegacy
)

// String returns the name a spec uses for the format ("timestamped", "legacy").
func (f EncryptFormat) String() string {
	switch f {
	case EncryptFormatTimestamped:
		return "timestamped"
	case EncryptFormatLegacy:
		return "legacy"
	}
	return "EncryptFormat(" + strconv.Itoa(int(f)) + ")"
}

// ParseEncryptFormat parses "timestamped" or "legacy" (any case).
func ParseEncryptFormat(s string) (EncryptFormat, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "timestamped":
		return EncryptFormatTimestamped, nil
	case "legacy":
		return EncryptFormatLegacy, nil
	}
	return 0, configError("encrypt: format %q: want timestamped (Tomcat 10.1.56+ / 11.0.23+ / 9.0.119+) or legacy (earlier Tomcat)", s)
}

// tomcatAtLeast reports whether Tomcat major.minor.patch is at least the release given
// for its branch in since (major → minor, patch); branches newer than all of them are.
func tomcatAtLeast(major, minor, patch int, since map[int][2]int) bool {
	newest := 0
	for m := range since {
		newest = max(newest, m)
	}
	if major > newest {
		return true
	}
	v, ok := since[major]
	if !ok {
		return false
	}
	return minor > v[0] || minor == v[0] && patch >= v[1]
}

// EncryptFormatForTomcat returns the format Tomcat major.minor.patch's
// EncryptInterceptor speaks: EncryptFormatTimestamped from 9.0.119, 10.1.56, 11.0.23 and
// in 12, EncryptFormatLegacy before (and in 10.0.x, 8.5.x and older).
func EncryptFormatForTomcat(major, minor, patch int) EncryptFormat {
	if tomcatAtLeast(major, minor, patch, map[int][2]int{9: {0, 119}, 10: {1, 56}, 11: {0, 23}}) {
		return EncryptFormatTimestamped
	}
	return EncryptFormatLegacy
}

// EncryptionAlgorithmForTomcat returns the default encryptionAlgorithm of Tomcat
// major.minor.patch: AES/GCM/NoPadding from 9.0.121, 10.1.58, 11.0.25 and in 12,
// AES/CBC/PKCS5Padding before. A Go node talking to a Java node that does not set
// encryptionAlgorithm must use this one.
func EncryptionAlgorithmForTomcat(major, minor, patch int) string {
	if tomcatAtLeast(major, minor, patch, map[int][2]int{9: {0, 121}, 10: {1, 58}, 11: {0, 25}}) {
		return DefaultEncryptionAlgorithm
	}
	return "AES/CBC/PKCS5Padding"
}
