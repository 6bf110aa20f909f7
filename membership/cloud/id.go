package cloud

import (
	"crypto/md5" //nolint:gosec // Tomcat's member ids are MD5 digests; compatibility, not security
	"net/netip"
	"strconv"
	"strings"
)

// PodUniqueID is the member id Tomcat gives a pod: the MD5 digest of its uid, or of its
// address (as listed) if it has no uid.
func PodUniqueID(p Pod) [16]byte {
	if p.UID != "" {
		return md5.Sum([]byte(p.UID))
	}
	return md5.Sum([]byte(p.IP))
}

// AddressUniqueID is the member id Tomcat's DNS provider gives an address: the MD5
// digest of the address as Java writes it (InetAddress.getHostAddress: dotted IPv4,
// IPv6 as eight hexadecimal groups without zero compression).
func AddressUniqueID(a netip.Addr) [16]byte {
	return md5.Sum([]byte(JavaHostAddress(a)))
}

// senderUniqueID is the id Tomcat's DNS provider gives an unknown sender of a message:
// the MD5 digest of its address bytes in decimal joined by dots (for an IPv6 sender,
// sixteen numbers).
func senderUniqueID(host []byte) [16]byte {
	var b strings.Builder
	for i, x := range host {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(int(x)))
	}
	return md5.Sum([]byte(b.String()))
}

// JavaHostAddress formats a as Java's InetAddress.getHostAddress does: an IPv4 (or
// IPv4-mapped) address dotted, an IPv6 one as eight lowercase hexadecimal groups
// without leading zeros and without "::" compression; a zone is dropped.
func JavaHostAddress(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	var s strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16))
	}
	return s.String()
}
