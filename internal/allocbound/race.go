//go:build race

package allocbound

// raceScale: the race detector makes sync.Pool drop what is put in it at random, so that
// pooled buffers and decoders are allocated anew: the bounds are doubled.
const raceScale = 2
