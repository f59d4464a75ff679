//go:build unix

package sqlref

import (
	"syscall"
	"time"
)

// processCPUTime is the user+system CPU time of the process so far: the benchmark reports
// throughput per CPU-second as well, which stays meaningful on a machine shared with other work.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
