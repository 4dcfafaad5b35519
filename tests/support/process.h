// Test support: run kledger (and kcat) as child processes on loopback, read their output, kill
// them, and talk HTTP to them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace kledger::testing {

// A child process with its stdout on a pipe and its stderr in a log file. The destructor
// SIGKILLs and reaps it if it still runs.
class ChildProcess {
 public:
  // Starts argv[0] (a path) with `argv`. stderr goes to `stderr_path` (appended).
  static Result<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                    const std::string& stderr_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  // The next line of stdout, without its newline; nullopt at end of output or after `timeout`.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Everything left on stdout until the process closes it (or `timeout`).
  std::string ReadAll(std::chrono::milliseconds timeout);

  void Signal(int signal);
  // Waits for exit; the exit code, 128+signal when killed, or nullopt after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

// The whole file at `path`; "" when it cannot be read.
std::string ReadFile(const std::string& path);

// A program run to its end: its exit code (-1 when it did not end in time), stdout and stderr,
// and how long it took.
struct ToolRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::chrono::steady_clock::duration took{};
};

// Runs `argv` to completion within `timeout`, its stderr kept in `stderr_path` and returned.
ToolRun RunToCompletion(const std::vector<std::string>& argv, const std::string& stderr_path,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The kledger binary under test (KLEDGER_BIN, set by CMake).
std::string KledgerBinary();

// A TCP port on 127.0.0.1 free at the time of asking.
int FreePort();

// A fresh directory under the system temp dir, named after `prefix`, that holds a test's logs and
// data. It goes with this object unless a test of this program has failed by then (its logs are
// what a look at the failure needs) or KLEDGER_KEEP_TEST_DIRS is set: a processor's store alone
// preallocates ~70 MiB, and CI's runs start hundreds of them.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Polls `probe` every 100 ms until it returns true or `timeout` passes.
bool WaitUntil(std::chrono::milliseconds timeout, const std::function<bool()>& probe);

}  // namespace kledger::testing
