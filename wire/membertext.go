package wire

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadMemberText is wrapped by every error about a member written as text.
var ErrBadMemberText = errors.New("tribes/wire: malformed member text")

// MaxMemberListLen bounds the text ParseMemberList reads (64 KiB, some thousand members).
const MaxMemberListLen = 64 << 10

// ParseMemberText parses a member written "host:port:uniqueIdHex", the form of Tomcat's
// static member lists and of tribesdemo's --static flag, or "host:port:{-64,11,...}", the
// unique id as Tomcat's uniqueId attribute in server.xml (ParseUniqueID reads both forms of
// the id). The unique id may be left out
// ("host:port"), leaving it zero; an IPv6 host is written in brackets ("[::1]:4000:…"); a
// host name is looked up and its first address taken. Only Host, Port and UniqueID are
// set, and SecurePort and UDPPort are -1 (none).
func ParseMemberText(s string) (Member, error) {
	return parseMemberText(s, net.LookupIP)
}

func parseMemberText(s string, lookup func(string) ([]net.IP, error)) (Member, error) {
	var m Member
	s = strings.TrimSpace(s)
	if head, _, _ := strings.Cut(s, "{"); strings.ContainsAny(head, " \t\r\n") {
		return m, fmt.Errorf("%w: %q: a space inside a member; separate members with commas", ErrBadMemberText, s)
	}
	hostPort, idHex := s, ""
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if id := s[i+1:]; len(id) == 32 || strings.HasPrefix(strings.TrimSpace(id), "{") {
			hostPort, idHex = s[:i], id
		} else if _, _, err := net.SplitHostPort(s[:i]); err == nil {
			// host:port and something after it that is not a unique id.
			return m, fmt.Errorf("%w: %q: bad unique id %q: want 32 hex digits (no dashes), got %d characters, "+
				"or Tomcat's uniqueId text {-64,1,...}", ErrBadMemberText, s, s[i+1:], len(s)-i-1)
		}
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return m, fmt.Errorf("%w: %q: want host:port:uniqueIdHex: %w", ErrBadMemberText, s, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := lookup(host)
		if lerr == nil && len(ips) == 0 {
			lerr = errors.New("no addresses")
		}
		if lerr != nil {
			// The lookup's error says what is wrong with a name; ParseAddr's would only
			// say that it is not an IP address.
			return m, fmt.Errorf("%w: %q: bad host %q: not an IP address, and looking it up failed: %w", ErrBadMemberText, s, host, lerr)
		}
		ip, _ = netip.AddrFromSlice(ips[0])
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return m, fmt.Errorf("%w: %q: bad port %q: want a number from 0 to 65535", ErrBadMemberText, s, port)
	}
	m.Host = ip.Unmap().AsSlice()
	m.Port = int32(p)
	m.SecurePort, m.UDPPort = -1, -1
	if idHex != "" {
		if m.UniqueID, err = ParseUniqueID(idHex); err != nil {
			return m, fmt.Errorf("%w: %q: %w", ErrBadMemberText, s, err)
		}
	}
	return m, nil
}

// ParseMemberList parses a comma-separated list of members written as ParseMemberText
// reads them; empty items are skipped. A comma inside braces belongs to a unique id in
// Tomcat's form, so that "h:4102:{-64,11,...},h:4103:{-64,12,...}" is two members;
// unbalanced braces are an error. The list is at most MaxMemberListLen bytes.
func ParseMemberList(list string) ([]Member, error) {
	return parseMemberList(list, net.LookupIP)
}

func parseMemberList(list string, lookup func(string) ([]net.IP, error)) ([]Member, error) {
	if len(list) > MaxMemberListLen {
		return nil, fmt.Errorf("%w: list of %d bytes, at most %d", ErrBadMemberText, len(list), MaxMemberListLen)
	}
	items, err := splitMemberList(list)
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, f := range items {
		if strings.TrimSpace(f) == "" {
			continue
		}
		m, err := parseMemberText(f, lookup)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// splitMemberList splits list at the commas outside braces, refusing a brace that opens
// inside braces or closes none.
func splitMemberList(list string) ([]string, error) {
	var items []string
	start, open := 0, -1
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '{':
			if open >= 0 {
				return nil, fmt.Errorf("%w: %q: a brace opens inside the unique id opened at byte %d; want "+
					"host:port:{-64,1,...}", ErrBadMemberText, list[start:i+1], open)
			}
			open = i
		case '}':
			if open < 0 {
				return nil, fmt.Errorf("%w: %q: a closing brace without its opening one; want host:port:{-64,1,...}",
					ErrBadMemberText, list[start:i+1])
			}
			open = -1
		case ',':
			if open < 0 {
				items = append(items, list[start:i])
				start = i + 1
			}
		}
	}
	if open >= 0 {
		return nil, fmt.Errorf("%w: %q: no closing brace; want host:port:{-64,1,...}", ErrBadMemberText, list[start:])
	}
	return append(items, list[start:]), nil
}

// FormatMemberText writes m as ParseMemberText reads it: "host:port:uniqueIdHex".
func FormatMemberText(m Member) string {
	return m.Addr() + ":" + m.UniqueID.String()
}
