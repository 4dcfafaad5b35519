#include "app/benchmark/http_load.h"

#include <httplib.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace kledger::app::bench {

Result<HttpAnswers> PostAll(const std::string& host, int port, const std::vector<HttpPost>& posts,
                            int accepted, int clients, ThreadCpu* cpu,
                            const std::function<void(int64_t)>& on_answer) {
  HttpAnswers out;
  out.answers.resize(posts.size());
  out.request_ms.resize(posts.size());
  std::atomic<size_t> next{0};
  std::atomic<int64_t> answered{0};
  std::atomic<int64_t> refused{0};
  std::mutex mu;
  std::condition_variable changed;
  int working = clients;  // guarded by mu: threads still sending
  bool release = false;   // guarded by mu: the clock has stopped, threads may end
  Status failure;         // guarded by mu: the first failed request

  auto client = [&] {
    pthread_setname_np(pthread_self(), "kl-load");
    httplib::Client http(host, port);
    http.set_keep_alive(true);
    http.set_tcp_nodelay(true);  // as the gateway: no delayed-ACK wait between header and body
    http.set_read_timeout(std::chrono::seconds(60));
    for (size_t i = next++; i < posts.size(); i = next++) {
      const auto sent = Clock::now();
      auto answer = http.Post(posts[i].path, posts[i].body, "application/json");
      while (answer && answer->status == 503) {
        ++refused;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        answer = http.Post(posts[i].path, posts[i].body, "application/json");
      }
      out.request_ms[i] = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
      if (!answer || answer->status != accepted) {
        std::lock_guard lock(mu);
        if (failure.ok()) {
          failure = Status::Unavailable(
              "POST " + posts[i].path + " (request " + std::to_string(i) + ") " +
              (answer ? "answered " + std::to_string(answer->status) + ": " + answer->body
                      : "failed: " + httplib::to_string(answer.error())));
        }
        next = posts.size();  // the others stop too
        break;
      }
      out.answers[i] = std::move(answer->body);
      if (on_answer) on_answer(++answered);
    }
    std::unique_lock lock(mu);
    --working;
    changed.notify_all();
    changed.wait(lock, [&] { return release; });
  };

  if (cpu != nullptr) cpu->Start();
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) threads.emplace_back(client);
  {
    std::unique_lock lock(mu);
    changed.wait(lock, [&] { return working == 0; });
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (cpu != nullptr) cpu->Stop();  // every client thread still lives, so it is counted
    release = true;
  }
  changed.notify_all();
  for (auto& t : threads) t.join();
  if (!failure.ok()) return failure;
  out.refused = refused.load();
  return out;
}

}  // namespace kledger::app::bench
