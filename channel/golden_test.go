package channel

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestOptionsGolden compares option parsing and printing with Java's Channel.parseSendOptions
// and getSendOptionsAsString, recorded in wire/testdata/golden/options.txt by the jar.
func TestOptionsGolden(t *testing.T) {
	f, err := os.Open("../wire/testdata/golden/options.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("bad line %q", sc.Text())
		}
		switch fields[0] {
		case "parse":
			want, _ := strconv.Atoi(fields[2])
			got, err := ParseSendOptions(fields[1])
			if err != nil || got != SendOptions(want) {
				t.Errorf("ParseSendOptions(%q) = %d, %v; Java says %d", fields[1], got, err, want)
			}
		case "string":
			v, _ := strconv.Atoi(fields[1])
			if got := SendOptions(v).JavaString(); got != fields[2] {
				t.Errorf("JavaString(%d) = %q; Java says %q", v, got, fields[2])
			}
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d golden lines", n)
	}
}
