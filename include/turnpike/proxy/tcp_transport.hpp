// One connection of the per-core TCP stack as a TLS session's zero-copy
// transport: wolfSSL reads records out of the receive buffer and writes
// them into the send buffer. `open` says whether the leg can take writes
// (connected and not gone); it is read on every call.
#pragma once
#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::proxy {

class TcpTransport final : public tls::Session::Transport {
 public:
  using OpenFn = bool (*)(const void* owner);
  TcpTransport(tcp::Stack& st, const tcp::ConnId& id, const void* owner, OpenFn open)
      : st_(st), id_(id), owner_(owner), open_(open) {}
  std::span<const std::uint8_t> peek() override { return st_.peek(id_); }
  void consume(std::size_t n) override { st_.consume(id_, n); }
  std::size_t write(const std::uint8_t* d, std::size_t n) override {
    if (!open_(owner_)) return 0;
    const long w = st_.write(id_, d, n);
    return w > 0 ? static_cast<std::size_t>(w) : 0;
  }

 private:
  tcp::Stack& st_;
  const tcp::ConnId& id_;  // the owner's member: may be set after construction
  const void* owner_;
  OpenFn open_;
};

}  // namespace turnpike::proxy
