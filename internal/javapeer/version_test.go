package javapeer

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The version of the installed Tribes jar agrees with the versioned file name Debian
// installs beside it (tomcat10-tribes-<version>.jar).
func TestTribesVersion(t *testing.T) {
	Skip(t)
	major, minor, patch, err := TribesVersion()
	if err != nil {
		t.Fatal(err)
	}
	if major < 9 || major > 99 {
		t.Fatalf("version %d.%d.%d", major, minor, patch)
	}
	t.Logf("%s is Tomcat %d.%d.%d", TribesJar, major, minor, patch)
	target, err := filepath.EvalSymlinks(TribesJar)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(filepath.Dir(TribesJar), fmt.Sprintf("tomcat10-tribes-%d.%d.%d.jar", major, minor, patch))
	if _, err := os.Stat(want); err != nil && !strings.HasSuffix(target, filepath.Base(want)) {
		t.Fatalf("the manifest says %d.%d.%d, but neither %s exists nor does %s point to it (%s)", major, minor, patch, want, TribesJar, target)
	}
}

// A manifest like Debian's: CRLF line ends, long attributes continued on lines starting
// with a space, Bundle-Version before Implementation-Version.
const sampleManifest = "Manifest-Version: 1.0\r\n" +
	"Bundle-Name: tomcat-tribes\r\n" +
	"Bundle-Versi\r\n" +
	" on-Note: not the version\r\n" +
	"Bundle-Version: 10.1\r\n" +
	" .52\r\n" +
	"Export-Package: org.apache.catalina.tribes;version=\"10.1.52\",org\r\n" +
	" .apache.catalina.tribes.group\r\n" +
	"Implementation-Version: 9.0.1\r\n" +
	"\r\n" +
	"Name: org/apache/catalina/tribes/\r\n" +
	"Bundle-Version: 1.2.3\r\n"

func TestManifestVersion(t *testing.T) {
	for _, c := range []struct {
		mf                  string
		major, minor, patch int
	}{
		{sampleManifest, 10, 1, 52},
		{strings.ReplaceAll(sampleManifest, "\r\n", "\n"), 10, 1, 52},
		{"Manifest-Version: 1.0\nImplementation-Version: 11.0.23\n", 11, 0, 23},
		{"bundle-version: 9.0.121.Final\n", 9, 0, 121},
		{"Bundle-Version: 12.0.0-M1", 12, 0, 0},
	} {
		major, minor, patch, err := manifestVersion([]byte(c.mf))
		if err != nil || major != c.major || minor != c.minor || patch != c.patch {
			t.Errorf("%q: %d.%d.%d, %v; want %d.%d.%d", c.mf, major, minor, patch, err, c.major, c.minor, c.patch)
		}
	}
	for _, bad := range []string{
		"", "Manifest-Version: 1.0\n", "\nBundle-Version: 10.1.52\n", "no colon here\n",
		"Bundle-Version: 10.1\n", "Bundle-Version: ten.1.52\n", "Bundle-Version: 10..52\n",
		"Bundle-Version: +10.1.52\n", "Bundle-Version: 10.1.x\n", "Bundle-Version: 10000000000.1.52\n",
	} {
		if major, minor, patch, err := manifestVersion([]byte(bad)); err == nil {
			t.Errorf("%q: %d.%d.%d, want an error", bad, major, minor, patch)
		}
	}
}

// A jar written here: the version comes from its manifest; a jar without one, or no jar,
// is an error.
func TestJarVersion(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, files map[string]string) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		zw := zip.NewWriter(f)
		for n, body := range files {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(body))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	good := write("good.jar", map[string]string{"META-INF/MANIFEST.MF": sampleManifest, "a/B.class": "x"})
	if major, minor, patch, err := JarVersion(good); err != nil || major != 10 || minor != 1 || patch != 52 {
		t.Fatalf("%d.%d.%d, %v", major, minor, patch, err)
	}
	for _, p := range []string{write("none.jar", map[string]string{"a/B.class": "x"}), filepath.Join(dir, "missing.jar")} {
		if _, _, _, err := JarVersion(p); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

func FuzzManifestVersion(f *testing.F) {
	f.Add([]byte(sampleManifest))
	f.Add([]byte("Bundle-Version: 10.1.52\n"))
	f.Fuzz(func(t *testing.T, mf []byte) {
		major, minor, patch, err := manifestVersion(mf)
		if err == nil && (major < 0 || minor < 0 || patch < 0) {
			t.Fatalf("%d.%d.%d", major, minor, patch)
		}
	})
}
