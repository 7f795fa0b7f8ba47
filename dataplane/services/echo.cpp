#include "turnpike/services/echo.hpp"

namespace turnpike::services {

EchoService::EchoService(bool discard, std::size_t max_connections)
    : discard_(discard), peer_closed_(max_connections, 0) {}

tcp::ConnHandler* EchoService::on_accept(tcp::Stack&, tcp::ConnId id) {
  if (id.idx >= peer_closed_.size()) peer_closed_.resize(id.idx + 1, 0);  // pool grew: rare, off the data path
  peer_closed_[id.idx] = 0;
  ++accepted_;
  return this;
}

void EchoService::pump(tcp::Stack& s, tcp::ConnId id) {
  for (;;) {
    const auto data = s.peek(id);
    if (data.empty()) break;
    std::size_t n = data.size();
    if (!discard_) {
      // Echo only what fits: a full send buffer stops consumption, closing
      // our receive window, so the peer is slowed instead of data dropped.
      const long w = s.write(id, data.data(), n);
      if (w <= 0) break;
      n = static_cast<std::size_t>(w);
    }
    s.consume(id, n);
    bytes_ += n;
  }
  // RFC 862: after the peer's FIN, send our FIN once everything was echoed.
  if (id.idx < peer_closed_.size() && peer_closed_[id.idx] && s.readable(id) == 0) {
    peer_closed_[id.idx] = 0;
    s.shutdown_write(id);
  }
}

void EchoService::on_peer_closed(tcp::Stack& s, tcp::ConnId id) {
  if (id.idx < peer_closed_.size()) peer_closed_[id.idx] = 1;
  pump(s, id);
}

}  // namespace turnpike::services
