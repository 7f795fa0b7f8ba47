// libFuzzer target (-DTURNPIKE_FUZZ=ON, clang): arbitrary segments against a
// connection in each RFC 9293 state. Run bounded in CI, e.g. -max_total_time=60.
#include <cstddef>
#include <cstdint>

#include "fuzz_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tcptest::fuzz_one(data, size);
  return 0;
}
