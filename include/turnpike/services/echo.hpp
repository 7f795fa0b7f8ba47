// Built-in TCP echo (RFC 862) and discard (RFC 863) services on the
// per-core TCP stack: operators use them to check a deployment, tests to
// drive the stack with real kernel peers.
#pragma once
#include <cstdint>
#include <vector>

#include "turnpike/tcp/stack.hpp"

namespace turnpike::services {

class EchoService final : public tcp::Listener, public tcp::ConnHandler {
 public:
  // discard: read and drop instead of echoing.
  EchoService(bool discard, std::size_t max_connections);

  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override;
  void on_readable(tcp::Stack& s, tcp::ConnId id) override { pump(s, id); }
  void on_writable(tcp::Stack& s, tcp::ConnId id) override { pump(s, id); }
  void on_peer_closed(tcp::Stack& s, tcp::ConnId id) override;
  void on_reset(tcp::Stack&, tcp::ConnId id) override { forget(id); }
  void on_error(tcp::Stack&, tcp::ConnId id, tcp::Error) override { forget(id); }
  void on_closed(tcp::Stack&, tcp::ConnId id) override { forget(id); }

  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  void pump(tcp::Stack& s, tcp::ConnId id);
  void forget(tcp::ConnId id) {
    if (id.idx < peer_closed_.size()) peer_closed_[id.idx] = 0;
  }
  bool discard_;
  std::vector<std::uint8_t> peer_closed_;  // by control-block index: no allocation per event
  std::uint64_t accepted_ = 0, bytes_ = 0;
};

}  // namespace turnpike::services
