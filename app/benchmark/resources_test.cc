// Tests of the benchmark's CPU accounting by thread group (ThreadCpu).
#include "app/benchmark/resources.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace kledger::app::bench {
namespace {

// Runs a thread named `name` that spins for ~`cpu` of CPU time, measured by a ThreadCpu
// started before it and stopped while it still lives (a thread that has exited is not counted).
std::map<std::string, double> CpuOfThreadNamed(const char* name, std::chrono::milliseconds cpu) {
  ThreadCpu measured;
  std::atomic<bool> named{false};
  std::atomic<bool> started{false};
  std::atomic<bool> spun{false};
  std::atomic<bool> release{false};
  std::thread thread([&] {
    pthread_setname_np(pthread_self(), name);
    named = true;
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // Its own CPU time, however busy the machine.
    const auto used = [] {
      timespec now{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
      return std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec);
    };
    const auto until = used() + cpu;
    while (used() < until) {
    }
    spun = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  // Started once the thread has its name (a thread is grouped by the name it has at Start), and
  // before it spins.
  while (!named) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  measured.Start();
  started = true;
  while (!spun) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  measured.Stop();
  release = true;
  thread.join();
  return measured.seconds();
}

TEST(ThreadCpuTest, TheEmbeddedBrokersThreadsCountAsTheBroker) {
  for (const char* name : {"rdk:mock", "kl-nodelay"}) {
    const auto seconds = CpuOfThreadNamed(name, std::chrono::milliseconds(60));
    EXPECT_GT(seconds.count("broker") ? seconds.at("broker") : 0.0, 0.03) << name;
    EXPECT_LT(seconds.count("other") ? seconds.at("other") : 0.0, 0.03) << name;
  }
  const auto seconds = CpuOfThreadNamed("kl-something", std::chrono::milliseconds(60));
  EXPECT_GT(seconds.count("other") ? seconds.at("other") : 0.0, 0.03);
}

}  // namespace
}  // namespace kledger::app::bench
