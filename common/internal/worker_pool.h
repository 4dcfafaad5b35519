// The HTTP server's worker threads (common/http_server.cc): a fixed pool whose next task goes to
// the worker that went idle last.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kledger::http::internal {

// `threads` workers named `name`. A task goes to the most recently idle worker, else waits in
// order for the first to come free. Under a load that needs a few of them at a time, the same
// few run every task, their caches warm (stack, thread-local parsers and buffers, the
// allocator's thread cache); a pool that wakes its longest-idle worker (httplib::ThreadPool's
// condition variable) hands each task to the coldest of them (docs/performance.md, "Lever: the
// HTTP server's workers taken most recently idle first").
class WorkerPool {
 public:
  WorkerPool(size_t threads, std::string name);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task` on a worker. After Shutdown, dropped.
  void Enqueue(std::function<void()> task);
  // Runs what is queued, then joins the workers. Idempotent.
  void Shutdown();
  // Workers waiting for a task.
  size_t Idle() const;

 private:
  struct Worker {
    std::condition_variable wake;
    std::function<void()> task;  // handed over by Enqueue, guarded by mu_
  };
  void Run(Worker& self);

  const std::string name_;
  mutable std::mutex mu_;
  std::deque<std::function<void()>> queued_;  // guarded by mu_: tasks no worker was idle for
  std::vector<Worker*> idle_;                 // guarded by mu_: a stack, the last idle on top
  bool stopping_ = false;                     // guarded by mu_
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace kledger::http::internal
