//go:build !unix

package cache

// cpuSeconds is not measured on this system: Cost.CPUSeconds stays 0.
func cpuSeconds() float64 { return 0 }
