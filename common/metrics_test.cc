#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kledger {
namespace {

using ::testing::HasSubstr;

TEST(CounterGridTest, CachedAndUncachedLabelsCountInTheSameFamily) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("things_total").Help("h").Register(registry);
  CounterGrid grid(family, "kind", {"a", "b"}, "result", {"ok", "bad"});

  grid.Get("a", "ok").Increment();
  grid.Get("a", "ok").Increment();  // from the cache: the same child
  grid.Get("b", "bad").Increment();
  grid.Get("c", "ok").Increment();  // outside the sets: through Family::Add
  grid.Get("c", "ok").Increment();

  EXPECT_EQ(&grid.Get("a", "ok"), &family.Add({{"kind", "a"}, {"result", "ok"}}));
  const std::string text = RenderMetrics(registry);
  EXPECT_THAT(text, HasSubstr(R"(things_total{kind="a",result="ok"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(things_total{kind="b",result="bad"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(things_total{kind="c",result="ok"} 2)"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr(R"(kind="a",result="bad")")));
}

}  // namespace
}  // namespace kledger
