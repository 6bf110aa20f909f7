package farm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
)

// TestLongFileName: a file name the receiver's check accepts (at most 255 bytes,
// a common file system's limit) must either be installed or be refused with a typed
// error (ErrBadName). The receiver used to assemble it in a temporary file named
// "."+name+"."+random, 12 bytes longer than the name, which the file system refused
// for names of 244 to 255 bytes: the chunk failed with an untyped ENAMETOOLONG. Its
// temporary files are now named without the file's name.
func TestLongFileName(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := startNode(t, nw, farm.Config{}), startNode(t, nw, farm.Config{})
	name := strings.Repeat("a", 251) + ".war" // 255 bytes: a legal file name
	msg, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 1, Data: []byte("war"), FileName: name,
		ContextName: "/long"})
	if err != nil {
		t.Fatal(err)
	}
	err = farm.Receive(b.d, &channel.Message{Source: a.ch.LocalMember(), Data: msg})
	if err != nil && !errors.Is(err, farm.ErrBadName) {
		t.Fatalf("a %d-byte file name that passes the name check: %v, want it installed or ErrBadName", len(name), err)
	}
	if err == nil {
		if _, serr := os.Stat(filepath.Join(b.deploy, name)); serr != nil {
			t.Errorf("accepted but not installed: %v", serr)
		}
	}
}
