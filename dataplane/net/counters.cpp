#include "turnpike/net/counters.hpp"

namespace turnpike::net {

std::string_view drop_name(Drop d) noexcept {
  switch (d) {
#define TURNPIKE_X(n, desc) \
  case Drop::n:             \
    return #n;
    TURNPIKE_DROP_REASONS(TURNPIKE_X)
#undef TURNPIKE_X
    case Drop::count_: break;
  }
  return "?";
}

std::string_view drop_description(Drop d) noexcept {
  switch (d) {
#define TURNPIKE_X(n, desc) \
  case Drop::n:             \
    return desc;
    TURNPIKE_DROP_REASONS(TURNPIKE_X)
#undef TURNPIKE_X
    case Drop::count_: break;
  }
  return "?";
}

}  // namespace turnpike::net
