package javapeer

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxManifest bounds the manifest read from a jar (Tomcat's are a few KiB).
const maxManifest = 1 << 20

// TribesVersion returns the version of TribesJar (Debian's libtomcat10-java), e.g. 10.1.52,
// from the Bundle-Version (or else Implementation-Version) of its manifest. Interop tests
// use it where Tomcat's behaviour depends on the release (the EncryptInterceptor format).
func TribesVersion() (major, minor, patch int, err error) {
	return JarVersion(TribesJar)
}

// JarVersion returns the major.minor.patch version in the manifest of the jar at path.
func JarVersion(path string) (major, minor, patch int, err error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("javapeer: %w", err)
	}
	defer zr.Close()
	f, err := zr.Open("META-INF/MANIFEST.MF")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("javapeer: %s: %w", path, err)
	}
	defer f.Close()
	mf, err := io.ReadAll(io.LimitReader(f, maxManifest+1))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("javapeer: %s: manifest: %w", path, err)
	}
	if len(mf) > maxManifest {
		return 0, 0, 0, fmt.Errorf("javapeer: %s: manifest larger than %d bytes", path, maxManifest)
	}
	major, minor, patch, err = manifestVersion(mf)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("javapeer: %s: %w", path, err)
	}
	return major, minor, patch, nil
}

// manifestVersion reads major.minor.patch from a JAR manifest's main section:
// Bundle-Version, or else Implementation-Version. It follows the manifest format's line
// continuations (a line starting with one space continues the previous one) and ignores a
// qualifier after the patch number (10.1.52.Final, 10.1.52-M1).
func manifestVersion(mf []byte) (major, minor, patch int, err error) {
	// Join continued lines first: a line break may fall anywhere, even inside a name.
	var logical []string
	for line := range bytes.Lines(mf) {
		l := strings.TrimRight(string(line), "\r\n")
		if l == "" {
			break // the end of the main section
		}
		if strings.HasPrefix(l, " ") && len(logical) > 0 {
			logical[len(logical)-1] += l[1:]
			continue
		}
		logical = append(logical, l)
	}
	attrs := map[string]string{}
	for _, l := range logical {
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.HasPrefix(name, " ") {
			return 0, 0, 0, fmt.Errorf("manifest line %q: no name", l)
		}
		attrs[strings.ToLower(name)] = strings.TrimPrefix(value, " ")
	}
	for _, name := range []string{"bundle-version", "implementation-version"} {
		if v, ok := attrs[name]; ok {
			return parseVersion(v)
		}
	}
	return 0, 0, 0, fmt.Errorf("manifest has neither Bundle-Version nor Implementation-Version")
}

// parseVersion parses "major.minor.patch" with an optional qualifier after the patch.
func parseVersion(v string) (major, minor, patch int, err error) {
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("version %q: want major.minor.patch", v)
	}
	if i := strings.IndexFunc(parts[2], func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		parts[2] = parts[2][:i]
	}
	var n [3]int
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" {
			return 0, 0, 0, fmt.Errorf("version %q: want major.minor.patch", v)
		}
		if n[i], err = strconv.Atoi(p); err != nil {
			return 0, 0, 0, fmt.Errorf("version %q: want major.minor.patch", v)
		}
	}
	return n[0], n[1], n[2], nil
}
