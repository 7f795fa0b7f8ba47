// The fuzz driver on seeded random inputs in every ctest run, so the
// "drive to a state, feed garbage, nothing leaks" property holds without
// libFuzzer too (and under ASan/UBSan in the sanitizer build).
#include <gtest/gtest.h>

#include "fuzz_driver.hpp"
#include "netsim.hpp"

TEST(FuzzSmoke, RandomSegmentsInEveryState) {
  tcptest::Prng rng(2026);
  std::vector<std::uint8_t> in;
  for (int iter = 0; iter < 6000; ++iter) {
    in.resize(2 + rng.next() % 600);
    for (auto& b : in) b = static_cast<std::uint8_t>(rng.next());
    in[0] = static_cast<std::uint8_t>(iter % 10);
    tcptest::fuzz_one(in.data(), in.size());
  }
  SUCCEED();
}
