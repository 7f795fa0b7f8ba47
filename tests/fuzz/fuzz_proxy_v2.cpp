// libFuzzer: PROXY v2 parser on arbitrary bytes; whatever parses must
// re-encode and parse back to the same facts (IPv4 and IPv6 address blocks).
#include <cstdlib>

#include "turnpike/proxy/proxy_v2.hpp"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  using namespace turnpike::proxy_v2;
  ParseResult r = parse(std::span(data, size));
  if (r.status != ParseStatus::Ok) return 0;
  if (r.length > size) std::abort();
  std::vector<std::uint8_t> out;
  encode(r.header, out);
  ParseResult back = parse(out);
  if (back.status != ParseStatus::Ok) std::abort();
  const Header &a = r.header, &b = back.header;
  if (a.local != b.local) std::abort();
  if (!a.local && (a.ipv6 != b.ipv6 || a.src_ip != b.src_ip || a.dst_ip != b.dst_ip || a.src6 != b.src6 ||
                   a.dst6 != b.dst6 || a.src_port != b.src_port ||
                   a.dst_port != b.dst_port || a.client_cn != b.client_cn || a.cipher != b.cipher ||
                   a.tls_version != b.tls_version || a.cert_sha256 != b.cert_sha256 || a.authority != b.authority))
    std::abort();
  return 0;
}
