package interceptors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Tomcat accepts AES with CBC, CFB or OFB and PKCS5Padding with a warning
// ("encryptInterceptor.algorithm.switch": switch to AES/GCM/NoPadding); so does NewEncrypt
// (docs/interceptors-transforms.md). GCM, the default, is accepted silently.
func TestEncryptWarnsOfModesOtherThanGCM(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	for _, tc := range []struct {
		alg  string
		warn bool
	}{
		{"AES/GCM/NoPadding", false},
		{"AES/CBC/PKCS5Padding", true},
		{"AES/CFB/PKCS5Padding", true},
		{"aes/ofb/pkcs5padding", true},
	} {
		var buf bytes.Buffer
		if _, err := NewEncrypt(EncryptConfig{Key: key, Algorithm: tc.alg, Logger: slog.New(slog.NewTextHandler(&buf, nil))}); err != nil {
			t.Fatalf("%s: %v", tc.alg, err)
		}
		warned := strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), "AES/GCM/NoPadding")
		if warned != tc.warn {
			t.Errorf("%s: logged %q, want a warning: %v", tc.alg, buf.String(), tc.warn)
		}
	}
}
