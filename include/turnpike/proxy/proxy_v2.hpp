// HAProxy PROXY protocol version 2 (the binary header of HAProxy's
// proxy-protocol.txt, §2.2): tells a backend (Kamailio tcp_accept_haproxy,
// OpenSIPS, HAProxy) the client's address and TLS facts of the connection.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "turnpike/net/ipv6.hpp"

namespace turnpike::proxy_v2 {

inline constexpr std::array<std::uint8_t, 12> kSignature = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                                             0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
// TLV types (proxy-protocol.txt §2.2.1-2.2.6).
inline constexpr std::uint8_t kTypeAlpn = 0x02;
inline constexpr std::uint8_t kTypeAuthority = 0x04;
inline constexpr std::uint8_t kTypeSsl = 0x20;
inline constexpr std::uint8_t kSubtypeSslVersion = 0x21;
inline constexpr std::uint8_t kSubtypeSslCn = 0x22;
inline constexpr std::uint8_t kSubtypeSslCipher = 0x23;
inline constexpr std::uint8_t kSubtypeSslSigAlg = 0x24;
inline constexpr std::uint8_t kSubtypeSslKeyAlg = 0x25;
// Custom range 0xE0-0xEF is reserved for applications: the client
// certificate's SHA-256 fingerprint (32 raw bytes).
inline constexpr std::uint8_t kTypeTurnpikeCertSha256 = 0xE0;
// PP2_TYPE_SSL client flags.
inline constexpr std::uint8_t kClientSsl = 0x01, kClientCertConn = 0x02, kClientCertSess = 0x04;

// Address families of the PROXY command (§2.2, byte 14 high nibble, with
// transport STREAM in the low nibble).
inline constexpr std::uint8_t kFamTcp4 = 0x11, kFamTcp6 = 0x21;

struct Header {
  bool local = false;  // LOCAL command (health checks): no addresses
  // AF_INET6 (0x21, a 36-byte address block) when set, else AF_INET (0x11,
  // 12 bytes). An IPv4-mapped client stays IPv6 here: the backend sees the
  // family the connection had.
  bool ipv6 = false;
  std::uint32_t src_ip = 0, dst_ip = 0;  // host order, when !ipv6
  net::Ipv6Addr src6, dst6;              // when ipv6
  std::uint16_t src_port = 0, dst_port = 0;
  // TLS facts (PP2_TYPE_SSL) when `ssl` is set.
  bool ssl = false;
  bool client_cert = false;     // a client certificate was presented on this connection
  std::uint32_t verify = 0;     // 0: the certificate verified
  std::string tls_version, cipher, client_cn;
  std::optional<std::array<std::uint8_t, 32>> cert_sha256;
  std::string authority;        // SNI
};

// Appends the encoded header to `out`; returns its length.
std::size_t encode(const Header& h, std::vector<std::uint8_t>& out);

enum class ParseStatus { Ok, NeedMore, NotProxy, Malformed };
struct ParseResult {
  ParseStatus status = ParseStatus::NeedMore;
  std::size_t length = 0;  // bytes of the header (Ok)
  Header header;
};
// Parses a header at the start of `buf`. Unknown TLVs are skipped; lengths
// that overrun their container are Malformed, never read past.
ParseResult parse(std::span<const std::uint8_t> buf);

}  // namespace turnpike::proxy_v2
