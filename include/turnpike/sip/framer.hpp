// SIP message framing on a byte stream (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1
// keep-alives). Finds where one message ends by the end of the header section
// and Content-Length; checks only what framing and the edge's limits need.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace turnpike::sip {

struct Limits {
  std::size_t max_header = 16 * 1024;  // start line + headers + blank line
  std::size_t max_body = 64 * 1024;
};

enum class Status : std::uint8_t {
  NeedMore,       // no complete unit yet; keep reading (bounded by the limits)
  Message,        // a complete message of `length` bytes
  KeepAlivePing,  // RFC 5626 double CRLF: answer with one CRLF
  Ignore,         // a lone CRLF before a start line (RFC 3261 §7.5) or a pong
  Error,          // malformed or too large: see `error`, then close
};

enum class Error : std::uint8_t {
  None,
  BadStartLine,
  MissingContentLength,   // mandatory on streams (RFC 3261 §18.3, §20.14)
  BadContentLength,       // not a number, overflow, or conflicting duplicates
  HeaderTooLarge,
  BodyTooLarge,
};

struct Frame {
  Status status = Status::NeedMore;
  Error error = Error::None;
  std::size_t length = 0;      // bytes to consume (Message, KeepAlivePing, Ignore)
  std::size_t header_len = 0;  // including the blank line
  std::size_t body_len = 0;
  bool is_request = false;     // request line (a response can be sent back)
  // For Error: the status code to answer with where a response can be formed
  // (400 Bad Request, 513 Message Too Large; RFC 3261 §21.4.1, §21.5.14), 0 if none.
  int response_code = 0;
};

// Frames the first unit at the start of `buf`.
Frame frame(std::span<const std::uint8_t> buf, const Limits& lim = {});
inline Frame frame(std::string_view s, const Limits& lim = {}) {
  return frame(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), lim);
}

std::string_view error_name(Error e) noexcept;

// A minimal response to a request whose headers are in `request_head`
// (RFC 3261 §8.2.6.2: Via, From, To, Call-ID and CSeq copied; To gets no tag
// here because no dialog is created). Empty if the head lacks those headers.
std::string build_response(std::string_view request_head, int code, std::string_view reason);

}  // namespace turnpike::sip
