// main() of the integration tests: one topology per binary, started before the first test and destroyed
// after the last. In its own file so that other programs (tests/chaos) can link the support library with
// their own main().
#include <gtest/gtest.h>

#include "common/logging.hpp"
#include "support/topology_fixture.hpp"

namespace {

class TopologyEnvironment : public ::testing::Environment {
  public:
    void SetUp() override { yw::test::Topology::get().start(); }
    void TearDown() override { yw::test::Topology::get().stop(); }
};

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    yw::log::init(yw::log::Level::kWarn, yw::log::Format::kText);
    ::testing::AddGlobalTestEnvironment(new TopologyEnvironment);
    return RUN_ALL_TESTS();
}
