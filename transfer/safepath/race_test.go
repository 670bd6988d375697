//go:build race

package safepath

const raceEnabled = true
