//go:build !unix

package sqlref

import "time"

func processCPUTime() time.Duration { return 0 }
