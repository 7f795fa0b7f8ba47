#include "turnpike/tcp/services.hpp"

namespace turnpike::tcp {

ConnHandler* EchoService::on_accept(Stack&, ConnId) {
  ++ctr_.accepted;
  return this;
}

// Copy received runs straight from the receive buffer into the send buffer;
// stop at the first short write and continue on on_writable.
void EchoService::pump(Stack& s, ConnId id) {
  for (auto run = s.peek(id); !run.empty(); run = s.peek(id)) {
    const long k = s.write(id, run.data(), run.size());
    if (k <= 0) return;
    ctr_.bytes += static_cast<std::uint64_t>(k);
    s.consume(id, static_cast<std::size_t>(k));
    if (static_cast<std::size_t>(k) < run.size()) return;
  }
  // Everything echoed and the peer is done: finish our side too.
  if (s.state(id) == State::close_wait) s.shutdown_write(id);
}

ConnHandler* DiscardService::on_accept(Stack&, ConnId) {
  ++ctr_.accepted;
  return this;
}

void DiscardService::on_readable(Stack& s, ConnId id) {
  for (auto run = s.peek(id); !run.empty(); run = s.peek(id)) {
    ctr_.bytes += run.size();
    s.consume(id, run.size());
  }
}

void DiscardService::on_peer_closed(Stack& s, ConnId id) {
  on_readable(s, id);
  s.shutdown_write(id);  // nothing to send: answer the FIN, wait for the last ACK
}

}  // namespace turnpike::tcp
