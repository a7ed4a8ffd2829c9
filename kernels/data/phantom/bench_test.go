package phantom

import "testing"

// BenchmarkGenerate64 measures phantom pairs per second on one core at 64x64.
func BenchmarkGenerate64(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Generate(7, Train, i, 64)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}
