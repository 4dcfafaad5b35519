#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kledger::testing {
namespace {

namespace fs = std::filesystem;

TEST(TempDirTest, IsAFreshDirectoryNamedAfterItsPrefix) {
  const TempDir a("kledger-tempdir-test");
  const TempDir b("kledger-tempdir-test");
  EXPECT_TRUE(fs::is_directory(a.path()));
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(fs::path(a.path()).filename().string().rfind("kledger-tempdir-test-", 0), 0u)
      << a.path();
  EXPECT_TRUE(fs::is_empty(a.path()));
}

TEST(TempDirTest, GoesWithItsContentsWhileNoTestHasFailed) {
  std::string path;
  {
    const TempDir dir("kledger-tempdir-test");
    path = dir.path();
    fs::create_directories(path + "/processor-0-data");
    std::ofstream(path + "/processor-0-data/000004.log") << "a processor's write-ahead log";
    std::ofstream(path + "/command.log") << "its log";
  }
  EXPECT_FALSE(fs::exists(path)) << path;
}

TEST(TempDirTest, StaysWhenKledgerKeepTestDirsIsSet) {
  std::string path;
  setenv("KLEDGER_KEEP_TEST_DIRS", "1", 1);
  {
    const TempDir dir("kledger-tempdir-test");
    path = dir.path();
  }
  unsetenv("KLEDGER_KEEP_TEST_DIRS");
  EXPECT_TRUE(fs::is_directory(path)) << path;
  fs::remove_all(path);
}

}  // namespace
}  // namespace kledger::testing
