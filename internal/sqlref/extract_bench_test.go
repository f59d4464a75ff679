package sqlref

import (
	"testing"
	"time"
)

// BenchmarkExtract measures extraction throughput (MB/s) over about 2.5 MB of generated SQL.
func BenchmarkExtract(b *testing.B) {
	files := benchCorpus(1, 5<<19)
	size := 0
	for _, f := range files {
		size += len(f)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var x Extractor
	cpu0 := processCPUTime()
	for b.Loop() {
		for _, f := range files {
			if _, err := x.Extract(f, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPUThroughput(b, size, processCPUTime()-cpu0)
}

// reportCPUThroughput adds "cpu-MB/s": bytes per CPU-second, robust to a busy machine.
func reportCPUThroughput(b *testing.B, size int, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

// BenchmarkLex measures the lexer alone.
func BenchmarkLex(b *testing.B) {
	files := benchCorpus(1, 5<<19)
	size := 0
	for _, f := range files {
		size += len(f)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var toks []Token
	cpu0 := processCPUTime()
	for b.Loop() {
		for _, f := range files {
			var err error
			if toks, err = AppendTokens(toks[:0], f); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPUThroughput(b, size, processCPUTime()-cpu0)
}
