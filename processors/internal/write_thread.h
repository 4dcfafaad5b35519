// The processor's write thread (kl-write): runs one job at a time, the in-flight commit's RocksDB
// write, while the apply thread applies the next poll.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/status.h"

namespace kledger::processors::internal {

class WriteThread {
 public:
  WriteThread();   // starts the thread
  ~WriteThread();  // lets a running job finish, then joins
  WriteThread(const WriteThread&) = delete;
  WriteThread& operator=(const WriteThread&) = delete;

  void Start(std::function<Status()> job);  // requires no job running
  Status Wait();                            // the last job's result; Ok when none ran

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::function<Status()> job_;  // guarded by mu_; set while a job waits or runs
  Status result_;                // guarded by mu_
  bool stop_ = false;            // guarded by mu_
  std::thread thread_;
};

}  // namespace kledger::processors::internal
