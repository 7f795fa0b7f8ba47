// libFuzzer: the SIP stream framer and the error-response builder on
// arbitrary bytes, with framing invariants checked.
#include <cstdlib>
#include <string>

#include "turnpike/sip/framer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  using namespace turnpike::sip;
  Limits lim;
  lim.max_header = 1024;
  lim.max_body = 512;
  std::span<const std::uint8_t> buf(data, size);
  // Consume the stream unit by unit, as a connection would.
  while (!buf.empty()) {
    Frame f = frame(buf, lim);
    if (f.status == Status::NeedMore || f.status == Status::Error) {
      if (f.status == Status::NeedMore && buf.size() > lim.max_header + lim.max_body) std::abort();  // unbounded
      if (f.status == Status::Error && f.response_code && f.header_len)
        (void)build_response(std::string_view(reinterpret_cast<const char*>(buf.data()), f.header_len), f.response_code, "x");
      break;
    }
    if (f.length == 0 || f.length > buf.size()) std::abort();
    if (f.status == Status::Message && f.length != f.header_len + f.body_len) std::abort();
    if (f.status == Status::Message && f.is_request)
      (void)build_response(std::string_view(reinterpret_cast<const char*>(buf.data()), f.header_len), 400, "Bad Request");
    buf = buf.subspan(f.length);
  }
  return 0;
}
