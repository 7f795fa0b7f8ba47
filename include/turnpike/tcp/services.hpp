// Built-in TCP echo (RFC 862) and discard (RFC 863) services for tests and
// for operators checking a deployment. One instance serves any number of
// connections on one stack; they keep no per-connection state of their own:
// echo applies back-pressure by leaving bytes unread (the window closes)
// until the send side has room again.
#pragma once
#include <cstdint>

#include "turnpike/tcp/stack.hpp"

namespace turnpike::tcp {

struct ServiceCounters {
  std::uint64_t accepted = 0;
  std::uint64_t bytes = 0;     // echoed or discarded
  std::uint64_t finished = 0;  // orderly ends
  std::uint64_t failed = 0;    // reset or error
};

class EchoService : public Listener, public ConnHandler {
 public:
  ConnHandler* on_accept(Stack&, ConnId) override;
  void on_readable(Stack& s, ConnId id) override { pump(s, id); }
  void on_writable(Stack& s, ConnId id) override { pump(s, id); }
  void on_peer_closed(Stack& s, ConnId id) override { pump(s, id); }
  void on_reset(Stack&, ConnId) override { ++ctr_.failed; }
  void on_error(Stack&, ConnId, Error) override { ++ctr_.failed; }
  void on_closed(Stack&, ConnId) override { ++ctr_.finished; }
  const ServiceCounters& counters() const noexcept { return ctr_; }

 private:
  void pump(Stack& s, ConnId id);
  ServiceCounters ctr_;
};

class DiscardService : public Listener, public ConnHandler {
 public:
  ConnHandler* on_accept(Stack&, ConnId) override;
  void on_readable(Stack& s, ConnId id) override;
  void on_peer_closed(Stack& s, ConnId id) override;
  void on_reset(Stack&, ConnId) override { ++ctr_.failed; }
  void on_error(Stack&, ConnId, Error) override { ++ctr_.failed; }
  void on_closed(Stack&, ConnId) override { ++ctr_.finished; }
  const ServiceCounters& counters() const noexcept { return ctr_; }

 private:
  ServiceCounters ctr_;
};

}  // namespace turnpike::tcp
