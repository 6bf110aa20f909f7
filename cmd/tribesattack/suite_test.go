package main

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) != "" {
		nodeMain()
	}
	os.Exit(m.Run())
}
