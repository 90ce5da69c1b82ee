//go:build race

package meetingnet

// raceEnabled is true under the race detector, which slows the code about
// tenfold: timing bounds are then not meaningful.
const raceEnabled = true
