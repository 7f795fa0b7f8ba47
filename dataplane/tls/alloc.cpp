#include "turnpike/tls/alloc.hpp"

#include <mimalloc.h>
#include <wolfssl/wolfcrypt/memory.h>

namespace turnpike::tls {

namespace {
thread_local mi_heap_t* t_heap = nullptr;

void* tp_malloc(size_t n) { return t_heap ? mi_heap_malloc(t_heap, n) : mi_malloc(n); }
void tp_free(void* p) { mi_free(p); }  // mimalloc finds the owning heap itself
void* tp_realloc(void* p, size_t n) { return t_heap ? mi_heap_realloc(t_heap, p, n) : mi_realloc(p, n); }

// Before any static constructor that might touch wolfSSL: a block allocated
// by the system allocator must never reach mi_free.
__attribute__((constructor(101))) void install_early() { install_allocators(); }
}  // namespace

void install_allocators() {
  static bool done = false;
  if (done) return;
  wolfSSL_SetAllocators(tp_malloc, tp_free, tp_realloc);
  done = true;
}

mi_heap_s* bind_worker_heap() {
  if (!t_heap) t_heap = mi_heap_new();
  return t_heap;
}

mi_heap_s* worker_heap() { return t_heap; }

}  // namespace turnpike::tls
