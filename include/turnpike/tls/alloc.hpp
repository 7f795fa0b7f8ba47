// wolfSSL allocations on per-worker mimalloc heaps (docs/architecture.md,
// "Memory"): each worker binds its own heap; wolfSSL's malloc/realloc go to
// the calling thread's heap, frees go wherever the block lives.
#pragma once

struct mi_heap_s;

namespace turnpike::tls {

// Installs the allocators; runs automatically before main (it must precede
// every wolfSSL allocation) and is idempotent.
void install_allocators();
// Gives the calling thread (a worker) its own heap; returns it.
mi_heap_s* bind_worker_heap();
// The calling thread's heap, or nullptr if it has none (default heap used).
mi_heap_s* worker_heap();

}  // namespace turnpike::tls
