#include "processors/internal/write_thread.h"

#include <pthread.h>

#include <cassert>

namespace kledger::processors::internal {

WriteThread::WriteThread() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "kl-write");
    std::unique_lock lock(mu_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || job_; });
      if (!job_) return;  // stopping, nothing left to run
      std::function<Status()> job = job_;
      lock.unlock();
      Status result = job();
      lock.lock();
      result_ = std::move(result);
      job_ = nullptr;
      changed_.notify_all();
    }
  });
}

WriteThread::~WriteThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void WriteThread::Start(std::function<Status()> job) {
  std::lock_guard lock(mu_);
  assert(!job_);
  job_ = std::move(job);
  result_ = Status::Ok();
  changed_.notify_all();
}

Status WriteThread::Wait() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return !job_; });
  return result_;
}

}  // namespace kledger::processors::internal
