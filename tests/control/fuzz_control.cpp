// libFuzzer target over the control plane's parsers of untrusted input:
// certificates (DER and PEM), private keys, CRLs and event formatting.
// The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/policy.hpp"
#include "turnpike/control/trust.hpp"

using namespace turnpike::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ensure_wolfssl();
  const uint8_t sel = data[0];
  std::span<const uint8_t> in(data + 1, size - 1);
  std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  switch (sel % 5) {
    case 0: {
      auto f = extract_facts(in);
      if (f) {
        for (EkuMode m : {EkuMode::On, EkuMode::Off})
          for (Role r : {Role::Inbound, Role::Outbound}) {
            (void)verdict(*f, m, r);
            (void)verdict_ca(*f, m, r);
          }
        (void)matches_peer_name(*f, "example.test", false);
      }
      break;
    }
    case 1:
      if (auto v = pem_certs_to_der(text))
        for (const auto& d : *v) (void)extract_facts(d);
      break;
    case 2: {
      KeyLoad k = load_private_key(text, sel & 0x80 ? "secret" : "");
      if (k.key) (void)private_key_to_pem(*k.key);
      break;
    }
    case 3: {
      TrustStore t;
      (void)t.add_crl(text);
      break;
    }
    case 4: {
      TlsErrorEvent e;
      e.detail = text;
      e.src_ip = text.substr(0, text.size() / 2);
      char buf[256];
      (void)format_tls_error_event(e, buf, sel % sizeof buf);
      (void)format_tls_error_event(e);
      break;
    }
  }
  return 0;
}
