// libFuzzer: arbitrary text as a configuration file, and its first line as a
// --set override of the default configuration. Each must yield a Config or a
// ConfigError, never a crash or another exception.
#include <string>

#include "turnpike/app/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    turnpike::Config c = turnpike::parse_config(text, "fuzz.toml");
    (void)turnpike::describe(c);
  } catch (const turnpike::ConfigError&) {
  }
  try {
    turnpike::Config c = turnpike::default_config();
    turnpike::apply_override(c, text.substr(0, text.find('\n')));
    turnpike::validate(c);
    (void)turnpike::describe(c);
  } catch (const turnpike::ConfigError&) {
  }
  return 0;
}
