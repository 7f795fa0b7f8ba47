// The command parser (tokens, "Key: value" arguments, quoting, format) and
// the reply framing: both pure, both fuzzed (fuzz_control_socket).
#include <cctype>

#include "turnpike/control/socket.hpp"
#include "turnpike/text.hpp"

namespace turnpike::control {

const std::string* ParsedCommand::arg(std::string_view key) const {
  for (const auto& [k, v] : args)
    if (iequals(k, key)) return &v;
  return nullptr;
}

namespace {

bool space(char c) { return c == ' ' || c == '\t'; }

// One token at `i`: a bare run of non-blank bytes or a double-quoted string.
// Returns "" or an error; `quoted` says the token may not be a key.
std::string next_token(std::string_view line, std::size_t& i, std::string& tok, bool& quoted) {
  tok.clear();
  quoted = false;
  if (line[i] != '"') {
    while (i < line.size() && !space(line[i])) tok += line[i++];
    return {};
  }
  quoted = true;
  ++i;
  while (i < line.size()) {
    char c = line[i++];
    if (c == '"') {
      if (i < line.size() && !space(line[i])) return "text after a closing quote";
      return {};
    }
    if (c == '\\') {
      if (i >= line.size()) break;
      c = line[i++];
      if (c != '"' && c != '\\') return std::string("unknown escape \\") + (std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : "?") + " in a quoted value";
    }
    tok += c;
  }
  return "unterminated quoted value";
}

}  // namespace

std::string parse_command(std::string_view line, ParsedCommand& out) {
  out = ParsedCommand{};
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  for (unsigned char c : line)
    if ((c < 0x20 && c != '\t') || c == 0x7f) return "control character in the command";
  std::vector<std::pair<std::string, bool>> toks;  // token, quoted
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && space(line[i])) ++i;
    if (i >= line.size()) break;
    if (toks.size() == kMaxCommandTokens) return "too many words (at most " + std::to_string(kMaxCommandTokens) + ")";
    std::string tok;
    bool quoted;
    if (std::string e = next_token(line, i, tok, quoted); !e.empty()) return e;
    toks.emplace_back(std::move(tok), quoted);
  }
  if (toks.empty()) return "empty command";
  // Words until the first "Key:" token; after it, Key: value pairs only.
  for (std::size_t k = 0; k < toks.size(); ++k) {
    auto& [t, quoted] = toks[k];
    if (!quoted && t == "--json") {
      out.json = true;
      continue;
    }
    const std::size_t colon = quoted ? std::string::npos : t.find(':');
    if (colon == std::string::npos) {
      if (!out.args.empty()) return "\"" + t + "\" is not a Key: value argument (values with spaces need quotes)";
      out.words.push_back(t);
      continue;
    }
    std::string key = t.substr(0, colon), value = t.substr(colon + 1);
    if (key.empty()) return "an argument without a name before ':'";
    if (value.empty()) {
      // "Key: value": the value is the next token (it may be quoted).
      if (k + 1 >= toks.size()) return "argument " + key + ": has no value";
      value = toks[++k].first;
    }
    if (out.arg(key)) return "argument " + key + ": given twice";
    if (iequals(key, "Format")) {
      if (iequals(value, "json")) out.json = true;
      else if (!iequals(value, "text")) return "Format: expected json or text";
      continue;
    }
    out.args.emplace_back(std::move(key), std::move(value));
  }
  if (out.words.empty()) return "a command starts with a word (xConfiguration, xStatus, xCommand, help)";
  return {};
}

// A content line equal to "OK" or starting with "ERROR:" is indented by one
// space, so the status line is the only line a client stops at.
std::string Reply::frame() const {
  std::string out;
  auto put = [&](std::string_view l) {
    // Control bytes would break the framing: shown as '?'.
    std::string s(l);
    for (char& ch : s)
      if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f) ch = '?';
    if (s == "OK" || s.rfind("ERROR:", 0) == 0) out += ' ';
    out += s;
    out += '\n';
  };
  for (const auto& l : lines) put(l);
  if (error.empty()) {
    out += "OK\n";
  } else {
    std::string e = error;
    for (char& ch : e)
      if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f) ch = ' ';
    out += "ERROR: " + e + "\n";
  }
  return out;
}

}  // namespace turnpike::control
