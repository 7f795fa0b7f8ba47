// TLS over any byte stream: wolfSSL with custom I/O callbacks on in-memory
// buffers (the per-core TCP feeds and drains them; tests use sockets or a
// second session), verification by turnpike's policy. One header for the
// whole engine:
//   context.hpp  Options, Verifier, Context (wolfSSL contexts, SNI identities)
//   session.hpp  Session (one connection), PeerInfo, SavedSession
//   tickets.hpp  TicketKeys (session ticket keys, rotation, key file)
#pragma once
#include "turnpike/tls/context.hpp"  // IWYU pragma: export
#include "turnpike/tls/session.hpp"  // IWYU pragma: export
#include "turnpike/tls/tickets.hpp"  // IWYU pragma: export
