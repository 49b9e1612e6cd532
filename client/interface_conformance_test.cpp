// The Interface conformance suite against the in-memory fake.
#include "client/interface_conformance.h"

#include "client/fake_client.h"

namespace kite::client {
namespace {

class FakeHarness : public ConformanceHarness {
 public:
  Interface& client() override { return fake_; }

 private:
  FakeClient fake_;
};

INSTANTIATE_TEST_SUITE_P(Fake, InterfaceConformanceTest,
                         ::testing::Values(HarnessFactory{
                             "fake",
                             [] { return std::make_unique<FakeHarness>(); }}),
                         HarnessName);

}  // namespace
}  // namespace kite::client
