#include "turnpike/proxy/proxy_v2.hpp"

#include <algorithm>
#include <cstring>

#include "turnpike/net/byteorder.hpp"

namespace turnpike::proxy_v2 {

using net::load_be16;
using net::load_be32;

namespace {
void put_tlv(std::vector<std::uint8_t>& out, std::uint8_t type, const void* v, std::size_t len) {
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(len >> 8));
  out.push_back(static_cast<std::uint8_t>(len));
  const auto* p = static_cast<const std::uint8_t*>(v);
  out.insert(out.end(), p, p + len);
}
void put_be16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}
}  // namespace

std::size_t encode(const Header& h, std::vector<std::uint8_t>& out) {
  const std::size_t start = out.size();
  out.insert(out.end(), kSignature.begin(), kSignature.end());
  out.push_back(h.local ? 0x20 : 0x21);  // version 2, LOCAL / PROXY
  out.push_back(h.local ? 0x00 : h.ipv6 ? kFamTcp6 : kFamTcp4);  // AF_UNSPEC / AF_INET(6) + STREAM
  const std::size_t len_at = out.size();
  put_be16(out, 0);
  if (!h.local) {
    if (h.ipv6) {
      out.insert(out.end(), h.src6.b.begin(), h.src6.b.end());
      out.insert(out.end(), h.dst6.b.begin(), h.dst6.b.end());
    } else {
      put_be32(out, h.src_ip);
      put_be32(out, h.dst_ip);
    }
    put_be16(out, h.src_port);
    put_be16(out, h.dst_port);
    if (!h.authority.empty()) put_tlv(out, kTypeAuthority, h.authority.data(), h.authority.size());
    if (h.ssl) {
      std::vector<std::uint8_t> v;
      v.push_back(static_cast<std::uint8_t>(kClientSsl | (h.client_cert ? kClientCertConn : 0)));
      put_be32(v, h.verify);
      if (!h.tls_version.empty()) put_tlv(v, kSubtypeSslVersion, h.tls_version.data(), h.tls_version.size());
      if (!h.cipher.empty()) put_tlv(v, kSubtypeSslCipher, h.cipher.data(), h.cipher.size());
      if (!h.client_cn.empty()) put_tlv(v, kSubtypeSslCn, h.client_cn.data(), h.client_cn.size());
      put_tlv(out, kTypeSsl, v.data(), v.size());
    }
    if (h.cert_sha256) put_tlv(out, kTypeTurnpikeCertSha256, h.cert_sha256->data(), 32);
  }
  const std::size_t body = out.size() - len_at - 2;
  out[len_at] = static_cast<std::uint8_t>(body >> 8);
  out[len_at + 1] = static_cast<std::uint8_t>(body);
  return out.size() - start;
}

ParseResult parse(std::span<const std::uint8_t> buf) {
  ParseResult r;
  const std::size_t sig = std::min(buf.size(), kSignature.size());
  if (!std::equal(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(sig), kSignature.begin())) {
    r.status = ParseStatus::NotProxy;
    return r;
  }
  if (buf.size() < 16) return r;  // NeedMore
  const std::uint8_t ver_cmd = buf[12], fam = buf[13];
  const std::size_t len = load_be16(&buf[14]);
  if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0f) > 1) {
    r.status = ParseStatus::Malformed;
    return r;
  }
  if (buf.size() < 16 + len) return r;
  r.length = 16 + len;
  const std::uint8_t* p = &buf[16];
  std::size_t left = len;
  Header& h = r.header;
  h.local = (ver_cmd & 0x0f) == 0;
  if (!h.local) {
    // Only TCP over IPv4 or IPv6 is spoken here (no UDP, no AF_UNIX).
    if (fam != kFamTcp4 && fam != kFamTcp6) {
      r.status = ParseStatus::Malformed;
      return r;
    }
    h.ipv6 = fam == kFamTcp6;
    const std::size_t block = h.ipv6 ? 36 : 12;  // §2.2: the address block sizes
    if (left < block) {
      r.status = ParseStatus::Malformed;
      return r;
    }
    if (h.ipv6) {
      std::memcpy(h.src6.b.data(), p, 16);
      std::memcpy(h.dst6.b.data(), p + 16, 16);
    } else {
      h.src_ip = load_be32(p);
      h.dst_ip = load_be32(p + 4);
    }
    h.src_port = load_be16(p + block - 4);
    h.dst_port = load_be16(p + block - 2);
    p += block;
    left -= block;
  } else {
    left = 0;  // LOCAL: receivers must ignore the address block and TLVs
  }
  while (left > 0) {
    if (left < 3) {
      r.status = ParseStatus::Malformed;
      return r;
    }
    const std::uint8_t type = p[0];
    const std::size_t vlen = load_be16(p + 1);
    if (vlen > left - 3) {
      r.status = ParseStatus::Malformed;
      return r;
    }
    const std::uint8_t* v = p + 3;
    if (type == kTypeAuthority) {
      h.authority.assign(reinterpret_cast<const char*>(v), vlen);
    } else if (type == kTypeTurnpikeCertSha256) {
      if (vlen != 32) {
        r.status = ParseStatus::Malformed;
        return r;
      }
      std::array<std::uint8_t, 32> fp;
      std::memcpy(fp.data(), v, 32);
      h.cert_sha256 = fp;
    } else if (type == kTypeSsl) {
      if (vlen < 5) {
        r.status = ParseStatus::Malformed;
        return r;
      }
      // Without PP2_CLIENT_SSL the connection was not TLS: the other fields
      // carry no meaning and are ignored (but still bounds-checked).
      const bool tls = (v[0] & kClientSsl) != 0;
      // A repeated SSL TLV replaces the earlier one entirely (last wins).
      h.tls_version.clear();
      h.cipher.clear();
      h.client_cn.clear();
      h.ssl = tls;
      h.client_cert = tls && (v[0] & (kClientCertConn | kClientCertSess)) != 0;
      h.verify = tls ? load_be32(v + 1) : 0;
      std::size_t sl = vlen - 5;
      const std::uint8_t* sp = v + 5;
      while (sl > 0) {
        if (sl < 3 || std::size_t(load_be16(sp + 1)) > sl - 3) {
          r.status = ParseStatus::Malformed;
          return r;
        }
        const std::size_t n = load_be16(sp + 1);
        const std::string val(reinterpret_cast<const char*>(sp + 3), n);
        if (!tls) {
        } else if (sp[0] == kSubtypeSslVersion) h.tls_version = val;
        else if (sp[0] == kSubtypeSslCipher) h.cipher = val;
        else if (sp[0] == kSubtypeSslCn) h.client_cn = val;
        sp += 3 + n;
        sl -= 3 + n;
      }
    }
    p += 3 + vlen;
    left -= 3 + vlen;
  }
  r.status = ParseStatus::Ok;
  return r;
}

}  // namespace turnpike::proxy_v2
