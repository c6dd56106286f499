// RB-23's query thresholds at every boundary, and how verdicts combine.
#include "common/verdict.hpp"

#include <gtest/gtest.h>

namespace yw {
namespace {

TEST(HealthRules, P95Boundaries) {
    EXPECT_EQ(query_health(0, 0), Verdict::kHealthy);
    EXPECT_EQ(query_health(299.99, 0), Verdict::kHealthy);
    EXPECT_EQ(query_health(300, 0), Verdict::kDegraded);
    EXPECT_EQ(query_health(450, 0), Verdict::kDegraded);
    EXPECT_EQ(query_health(600, 0), Verdict::kDegraded);
    EXPECT_EQ(query_health(600.01, 0), Verdict::kUnhealthy);
}

TEST(HealthRules, SlowShareBoundaries) {
    EXPECT_EQ(query_health(0, 4.99), Verdict::kHealthy);
    EXPECT_EQ(query_health(0, 5), Verdict::kDegraded);
    EXPECT_EQ(query_health(0, 7.5), Verdict::kDegraded);
    EXPECT_EQ(query_health(0, 10), Verdict::kDegraded);
    EXPECT_EQ(query_health(0, 10.01), Verdict::kUnhealthy);
    EXPECT_EQ(query_health(0, 100), Verdict::kUnhealthy);
}

TEST(HealthRules, TheWorseOfBothWins) {
    EXPECT_EQ(query_health(299.99, 4.99), Verdict::kHealthy);
    EXPECT_EQ(query_health(299.99, 5), Verdict::kDegraded);
    EXPECT_EQ(query_health(300, 4.99), Verdict::kDegraded);
    EXPECT_EQ(query_health(600.01, 4.99), Verdict::kUnhealthy);
    EXPECT_EQ(query_health(299.99, 10.01), Verdict::kUnhealthy);
    EXPECT_EQ(query_health(600, 10), Verdict::kDegraded);
}

TEST(HealthRules, Worse) {
    EXPECT_EQ(worse(Verdict::kHealthy, Verdict::kHealthy), Verdict::kHealthy);
    EXPECT_EQ(worse(Verdict::kHealthy, Verdict::kDegraded), Verdict::kDegraded);
    EXPECT_EQ(worse(Verdict::kDegraded, Verdict::kHealthy), Verdict::kDegraded);
    EXPECT_EQ(worse(Verdict::kUnhealthy, Verdict::kDegraded), Verdict::kUnhealthy);
    EXPECT_EQ(worse(Verdict::kHealthy, Verdict::kUnhealthy), Verdict::kUnhealthy);
}

TEST(HealthRules, GradeFitsRb23sOtherRows) {
    // pgbouncer.waiting_clients: 0 healthy, > 0 warning, > 10 critical.
    EXPECT_EQ(grade(0, 1, 10), Verdict::kHealthy);
    EXPECT_EQ(grade(1, 1, 10), Verdict::kDegraded);
    EXPECT_EQ(grade(10, 1, 10), Verdict::kDegraded);
    EXPECT_EQ(grade(11, 1, 10), Verdict::kUnhealthy);
}

TEST(HealthRules, Words) {
    EXPECT_EQ(to_string(Verdict::kHealthy), "healthy");
    EXPECT_EQ(to_string(Verdict::kDegraded), "degraded");
    EXPECT_EQ(to_string(Verdict::kUnhealthy), "unhealthy");
}

}  // namespace
}  // namespace yw
