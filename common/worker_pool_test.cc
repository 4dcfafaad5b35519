// Tests of http::internal::WorkerPool: every task runs, what is queued runs before Shutdown
// returns, and tasks one at a time all run on the worker that went idle last.
#include "common/internal/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

namespace kledger::http::internal {
namespace {

// Until every one of the pool's `workers` waits for a task.
void AwaitAllIdle(const WorkerPool& pool, size_t workers) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pool.Idle() < workers && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(pool.Idle(), workers);
}

TEST(WorkerPoolTest, TasksOneAtATimeRunOnTheWorkerIdleLast) {
  WorkerPool pool(8, "test-work");
  AwaitAllIdle(pool, 8);
  std::set<std::thread::id> ran_on;
  for (int i = 0; i < 50; ++i) {
    std::promise<std::thread::id> done;
    pool.Enqueue([&done] { done.set_value(std::this_thread::get_id()); });
    ran_on.insert(done.get_future().get());
    AwaitAllIdle(pool, 8);  // the worker is back on top of the idle ones
  }
  EXPECT_EQ(ran_on.size(), 1u) << "each task should go to the worker that went idle last";
}

TEST(WorkerPoolTest, EveryTaskRunsAndShutdownRunsWhatIsQueuedFirst) {
  std::atomic<int> ran{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  {
    WorkerPool pool(2, "test-work");
    // Both workers held, so that the rest queue behind them.
    for (int i = 0; i < 2; ++i) {
      pool.Enqueue([&ran, released] {
        released.wait();
        ++ran;
      });
    }
    for (int i = 0; i < 100; ++i) pool.Enqueue([&ran] { ++ran; });
    release.set_value();
    pool.Shutdown();
    EXPECT_EQ(ran.load(), 102);
    pool.Enqueue([&ran] { ++ran; });  // after Shutdown: dropped
  }
  EXPECT_EQ(ran.load(), 102);
}

TEST(WorkerPoolTest, AsManyTasksRunAtOnceAsThereAreWorkers) {
  WorkerPool pool(4, "test-work");
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> running{0};
  for (int i = 0; i < 4; ++i) {
    pool.Enqueue([&running, released] {
      ++running;
      released.wait();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (running.load() < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(running.load(), 4) << "a blocked worker must not hold up the others";
  release.set_value();
}

}  // namespace
}  // namespace kledger::http::internal
