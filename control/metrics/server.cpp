// civetweb (Debian's libcivetweb1) serves /metrics: one worker thread, no
// files, no CGI; we never parse HTTP ourselves.
#include <civetweb.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "turnpike/control/metrics.hpp"

namespace turnpike::control::metrics {

struct Server::Impl {
  mg_context* ctx = nullptr;
  Render render;
  std::atomic<std::uint64_t> scrapes{0};
};

namespace {

std::once_flag g_lib_once;

int handle_metrics(mg_connection* c, void* cbdata) {
  auto* impl = static_cast<Server::Impl*>(cbdata);
  const mg_request_info* ri = mg_get_request_info(c);
  const bool head = ri && ri->request_method && std::strcmp(ri->request_method, "HEAD") == 0;
  if (!ri || !ri->request_method || (std::strcmp(ri->request_method, "GET") != 0 && !head)) {
    mg_send_http_error(c, 405, "only GET and HEAD\n");
    return 405;
  }
  std::string body;
  try {
    body = impl->render();
  } catch (const std::exception& e) {
    mg_send_http_error(c, 500, "%s\n", e.what());
    return 500;
  }
  // relaxed: a statistic, nothing is ordered by it.
  impl->scrapes.fetch_add(1, std::memory_order_relaxed);
  mg_response_header_start(c, 200);
  mg_response_header_add(c, "Content-Type", "text/plain; version=0.0.4; charset=utf-8", -1);
  mg_response_header_add(c, "Content-Length", std::to_string(body.size()).c_str(), -1);
  mg_response_header_add(c, "Cache-Control", "no-store", -1);
  mg_response_header_send(c);
  if (!head) mg_write(c, body.data(), body.size());
  return 200;
}

int handle_other(mg_connection* c, void*) {
  mg_send_http_error(c, 404, "turnpike: try /metrics\n");
  return 404;
}

}  // namespace

Server::Server() : impl_(std::make_unique<Impl>()) {}
Server::~Server() { stop(); }

std::string Server::start(const std::string& ip, std::uint16_t port, Render render) {
  stop();
  std::call_once(g_lib_once, [] { mg_init_library(0); });
  impl_->render = std::move(render);
  const std::string listen = ip + ":" + std::to_string(port);
  // One worker thread: scrapes are rare and the collector runs on it; a
  // short request timeout keeps a stuck client from holding it.
  const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "1", "request_timeout_ms", "5000",
                           "enable_keep_alive", "no", "listen_backlog", "16", nullptr};
  mg_callbacks cb{};
  cb.log_message = [](const mg_connection*, const char*) { return 1; };  // errors come back through mg_error_data
  mg_init_data init{};
  init.callbacks = &cb;
  init.user_data = impl_.get();
  init.configuration_options = options;
  char text[256] = {};
  unsigned code = 0;
  mg_error_data err{};
  err.code = &code;
  err.text = text;
  err.text_buffer_size = sizeof text;
  impl_->ctx = mg_start2(&init, &err);
  if (!impl_->ctx) return listen + ": " + (text[0] ? text : "civetweb could not start");
  mg_set_request_handler(impl_->ctx, "/metrics$", handle_metrics, impl_.get());
  mg_set_request_handler(impl_->ctx, "/", handle_other, nullptr);
  return {};
}

void Server::stop() {
  if (impl_->ctx) mg_stop(impl_->ctx);  // joins civetweb's threads: no render() runs after this
  impl_->ctx = nullptr;
}

std::uint64_t Server::scrapes() const { return impl_->scrapes.load(std::memory_order_relaxed); }

}  // namespace turnpike::control::metrics
