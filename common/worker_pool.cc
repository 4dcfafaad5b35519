// http::internal::WorkerPool: each worker waits on a condition variable of its own, so that
// Enqueue wakes exactly the one it chose, the top of the idle stack.
#include "common/internal/worker_pool.h"

#include <pthread.h>

#include <algorithm>

namespace kledger::http::internal {

WorkerPool::WorkerPool(size_t threads, std::string name) : name_(std::move(name)) {
  threads = std::max<size_t>(1, threads);
  for (size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  for (auto& worker : workers_) threads_.emplace_back([this, w = worker.get()] { Run(*w); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

void WorkerPool::Enqueue(std::function<void()> task) {
  std::unique_lock lock(mu_);
  if (stopping_) return;
  if (idle_.empty()) {
    queued_.push_back(std::move(task));
    return;
  }
  Worker* worker = idle_.back();
  idle_.pop_back();
  worker->task = std::move(task);
  lock.unlock();
  worker->wake.notify_one();
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (auto& worker : workers_) worker->wake.notify_one();
  for (auto& thread : threads_) thread.join();
}

size_t WorkerPool::Idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

void WorkerPool::Run(Worker& self) {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());  // the kernel's limit
  std::unique_lock lock(mu_);
  for (;;) {
    std::function<void()> task;
    if (!queued_.empty()) {
      task = std::move(queued_.front());
      queued_.pop_front();
    } else if (stopping_) {
      return;  // nothing queued is left behind
    } else {
      idle_.push_back(&self);
      self.wake.wait(lock, [&] { return self.task != nullptr || stopping_; });
      if (self.task == nullptr) {  // stopping, and no task was handed over
        std::erase(idle_, &self);
        continue;
      }
      task = std::move(self.task);
      self.task = nullptr;
    }
    lock.unlock();
    task();
    task = nullptr;  // what it holds goes before the worker counts as idle
    lock.lock();
  }
}

}  // namespace kledger::http::internal
