// The HTTP client of the benchmark's /v1/batch phase: prepared bodies posted over keep-alive
// connections, answers kept raw, so that the clock holds the gateway's work and not the client's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/benchmark/resources.h"
#include "common/status.h"

namespace kledger::app::bench {

struct PostedBatches {
  double seconds = 0;                // from the first request sent to the last answer read
  std::vector<std::string> answers;  // per body, the 200 answer's body, in body order
  std::vector<double> request_ms;    // per body, request sent -> answer read
};

// POSTs each of `bodies` (JSON) to http://`host`:`port``path` from `clients` connections at
// once, each taking the next body not yet sent. `cpu`, when set, is started when the first
// request goes and stopped when the last answer is read, while every client thread still lives.
// An error names the first request that failed or was not answered 200; `on_answer(done)` is
// called after each answer, from the client threads.
Result<PostedBatches> PostBatches(const std::string& host, int port, const std::string& path,
                                  const std::vector<std::string>& bodies, int clients,
                                  ThreadCpu* cpu, const std::function<void(int64_t)>& on_answer);

}  // namespace kledger::app::bench
