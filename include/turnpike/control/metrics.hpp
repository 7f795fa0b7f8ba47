// Prometheus text exposition (format 0.0.4) and the HTTP listener that serves
// it. DPDK-free: the data plane supplies a function that renders the page
// (dataplane/worker/metrics.cpp); this side only formats and serves.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::control::metrics {

enum class Type : std::uint8_t { Counter, Gauge };

using Labels = std::vector<std::pair<std::string, std::string>>;

// Valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) and label name
// ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__").
bool valid_metric_name(std::string_view n);
bool valid_label_name(std::string_view n);
// Label values: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view v);
// HELP text: backslash and line feed escaped.
std::string escape_help(std::string_view v);
// Formats a sample value (integers exactly, NaN/Inf as Prometheus spells them).
std::string format_value(double v);

// Collects families and renders them with HELP and TYPE once per family,
// samples grouped under it in the order added, whatever order the collector
// visits them in. A family or label name that is not valid is dropped and
// counted (rejected()): a bug in a collector never makes the page invalid.
class Writer {
 public:
  // Declares a family (idempotent for the same name); samples may follow.
  void family(std::string_view name, Type t, std::string_view help);
  // One sample of a declared family; an undeclared family is rejected.
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  // Declares (if needed) and adds in one call.
  void counter(std::string_view name, std::string_view help, const Labels& l, std::uint64_t v) {
    family(name, Type::Counter, help);
    sample(name, l, v);
  }
  void counter(std::string_view name, std::string_view help, const Labels& l, double v) {
    family(name, Type::Counter, help);
    sample(name, l, v);
  }
  void gauge(std::string_view name, std::string_view help, const Labels& l, double v) {
    family(name, Type::Gauge, help);
    sample(name, l, v);
  }
  std::string render() const;
  std::size_t families() const { return fams_.size(); }
  std::size_t rejected() const { return rejected_; }

 private:
  struct Family {
    std::string name, help;
    Type type;
    std::vector<std::string> lines;  // "name{labels} value"
  };
  Family* find(std::string_view name);
  void add_line(std::string_view name, const Labels& labels, const std::string& value);
  std::vector<Family> fams_;
  std::size_t rejected_ = 0;
};

// "127.0.0.1:9661" -> civetweb's listening_ports form; "" or "off" -> off.
// Returns false (and why) for anything else that is not ip:port.
bool parse_listen(std::string_view s, std::string& ip, std::uint16_t& port, std::string& why);

// The management listener: civetweb with one worker thread serving GET
// /metrics from render(). render() runs on civetweb's thread, so it must only
// read (relaxed loads of single-writer counters, control-side locks).
class Server {
 public:
  using Render = std::function<std::string()>;
  Server();
  ~Server();  // stops the listener (joins civetweb's threads)
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // "" on success, else why (address in use, bad address).
  std::string start(const std::string& ip, std::uint16_t port, Render render);
  void stop();
  std::uint64_t scrapes() const;
  struct Impl;  // opaque; public only for civetweb's C callbacks

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnpike::control::metrics
