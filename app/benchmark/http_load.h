// The HTTP client of the benchmark's HTTP phases (/v1/batch of many commands, and one transfer a
// request): prepared requests posted over keep-alive connections, answers kept raw, so that the
// clock holds the server's work and not the client's. The client threads are named kl-load, so
// that ThreadCpu counts them apart from the server's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/benchmark/resources.h"
#include "common/status.h"

namespace kledger::app::bench {

struct HttpPost {
  std::string path;
  std::string body;  // JSON
};

struct HttpAnswers {
  double seconds = 0;                // from the first request sent to the last answer read
  std::vector<std::string> answers;  // per request, the accepted answer's body, in request order
  std::vector<double> request_ms;    // per request, first sent -> accepted answer read
  int64_t refused = 0;               // 503 answers (too many requests at once), each sent again
};

// POSTs each of `posts` to http://`host`:`port` from `clients` connections at once, each taking
// the next request not yet sent, and expects `accepted` (200, 202) for each. A 503 is counted
// as refused and the request sent again on the same connection after a millisecond. `cpu`, when
// set, is started when the first request goes and stopped when the last answer is read, while
// every client thread still lives. An error names the first request answered otherwise or not
// at all; `on_answer(done)` is called after each accepted answer, from the client threads.
Result<HttpAnswers> PostAll(const std::string& host, int port, const std::vector<HttpPost>& posts,
                            int accepted, int clients, ThreadCpu* cpu,
                            const std::function<void(int64_t)>& on_answer);

}  // namespace kledger::app::bench
