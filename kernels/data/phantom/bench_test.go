package phantom

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGenerate64 measures phantom pairs per second on one core at 64x64 (run it with
// -cpu 1). Besides wall-clock pairs/s it reports the process CPU time per pair, which is
// steadier on a shared machine.
func BenchmarkGenerate64(b *testing.B) {
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		Generate(7, Train, i, 64)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-µs/pair")
}
