//go:build !race

package allocbound

// raceScale is 1 without the race detector (race.go).
const raceScale = 1
