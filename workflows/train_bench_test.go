package workflows_test

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkTrainOverhead runs a 4-trial sweep one trial at a time on one
// worker and compares the Train workflow's wall time with the compute its
// activities measured (the training set and the trials): what is left is
// orchestration — scheduling, the evaluation of the best trial, recording
// and registering.
func BenchmarkTrainOverhead(b *testing.B) {
	w := newWorld(b)
	var wall, compute float64
	i := 0
	for b.Loop() {
		i++
		req := trainRequest(fmt.Sprintf("overhead_%d_%d", time.Now().UnixNano(), i), map[string]string{"trees": "2000", "threads": "2"},
			map[string][]string{"max_depth": {"4", "6"}, "learning_rate": {"0.05", "0.1"}})
		req.Concurrency = 1
		start := time.Now()
		res := w.train(b, fmt.Sprintf("train/overhead/%d/%d", time.Now().UnixNano(), i), req)
		wall += time.Since(start).Seconds()
		compute += res.TrainingSet.Seconds
		for _, t := range res.Trials {
			compute += t.Seconds
		}
	}
	n := float64(b.N)
	b.ReportMetric(wall/n, "wall-s")
	b.ReportMetric(compute/n, "compute-s")
	b.ReportMetric((wall-compute)/n, "overhead-s")
	b.ReportMetric(100*(wall-compute)/compute, "overhead-%")
}
