package farm

import (
	"fmt"
	"strings"
)

// maxNameBytes bounds a received file name (a common file system limit) and context
// name.
const (
	maxNameBytes    = 255
	maxContextBytes = 1024
)

// checkFileName refuses a received file name that is not a plain name of a file in one
// directory: empty, too long, with a path separator or NUL, "." or "..", or hidden
// (leading dot: the deployer's own temporary files are hidden).
func checkFileName(name string) error {
	switch {
	case name == "" || len(name) > maxNameBytes:
		return fmt.Errorf("%w: file name of %d bytes", ErrBadName, len(name))
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("%w: file name %q holds a path separator or NUL", ErrBadName, name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%w: file name %q starts with a dot", ErrBadName, name)
	}
	return nil
}

// checkContextName refuses a context name that is not "" (the root context) or a path
// of clean segments ("/a", "/a/b"), either followed by "##" and a version (Tomcat's
// parallel deployment: "##2" is version 2 of the root context, "/a/b##2" of "/a/b").
// The version is one non-empty part of a file name (BaseName keeps it as it is): no
// path separator or NUL.
func checkContextName(name string) error {
	if len(name) > maxContextBytes {
		return fmt.Errorf("%w: context name of %d bytes", ErrBadName, len(name))
	}
	path, version, versioned := strings.Cut(name, "##")
	if versioned && (version == "" || strings.ContainsAny(version, "/\\\x00")) {
		return fmt.Errorf("%w: context name %q: bad version %q", ErrBadName, name, version)
	}
	if path == "" {
		return nil
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "\\\x00") {
		return fmt.Errorf("%w: context name %q", ErrBadName, name)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: context name %q", ErrBadName, name)
		}
	}
	return nil
}

// ContextName returns the context name Tomcat derives from a deployed file's name
// (org.apache.catalina.util.ContextName with stripFileExtension): a ".war" or ".xml"
// extension, in any case, is dropped (no other: "notes.txt" is "/notes.txt"), "ROOT" (or
// nothing before "##") is the root context "", '#' stands for '/', and a version after
// "##" is kept: "shop.war" → "/shop", "ROOT.war" → "", "api#v2.war" → "/api/v2",
// "shop##3.war" → "/shop##3".
func ContextName(fileName string) string {
	base := fileName
	if hasSuffixFold(base, ".war") || hasSuffixFold(base, ".xml") {
		base = base[:len(base)-4]
	}
	path, version, versioned := strings.Cut(base, "##")
	if path == "ROOT" || path == "" {
		path = ""
	} else {
		path = "/" + strings.ReplaceAll(path, "#", "/")
	}
	if versioned {
		return path + "##" + version
	}
	return path
}

// hasSuffixFold reports whether s ends with the ASCII lower-case suffix in any case (Java's
// toLowerCase(Locale.ENGLISH).endsWith of an ASCII suffix).
func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.ToLower(s[len(s)-len(suffix):]) == suffix
}

// BaseName is the inverse of ContextName without the extension: the file name (before
// ".war") Tomcat gives a context: "/shop" → "shop", "" → "ROOT", "/api/v2" → "api#v2".
func BaseName(contextName string) string {
	path, version, versioned := strings.Cut(contextName, "##")
	base := "ROOT"
	if path != "" && path != "/" {
		base = strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "#")
	}
	if versioned {
		return base + "##" + version
	}
	return base
}
