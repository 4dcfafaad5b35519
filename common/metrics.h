// Prometheus metrics plumbing: the per-process registry is made in main and handed to each
// component's probe; this renders it in the text exposition format for /metrics.
#pragma once

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace kledger {

// The registry's current samples in Prometheus text format (version 0.0.4).
std::string RenderMetrics(prometheus::Registry& registry);

// Default latency buckets in seconds, from 100 µs to 10 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

}  // namespace kledger
