//go:build !race

package safepath

const raceEnabled = false
