/* wolfSSL's random source in turnpike's build: the kernel's CSPRNG through a
 * small per-thread buffer, instead of one SHA-256 Hash_DRBG per WOLFSSL.
 *
 * deploy/setup-deps.sh injects this header into every wolfSSL translation
 * unit (-include in WOLF_CFLAGS); only random.c uses what it defines. The
 * macros stay out of wolfssl/options.h on purpose: WC_RNG's layout depends
 * on HAVE_HASHDRBG alone, which configure still defines, so turnpike's code
 * and the library agree on every structure.
 *
 * Why: wolfSSL_new() instantiates a fresh Hash_DRBG for every connection
 * (open/read/close of /dev/urandom, the SP 800-90A health test, the
 * instantiation: 9-13 us on the bench machine, 13-24 us under load) and
 * frees it at wolfSSL_free(); that was ~10 % of a full handshake.
 *
 * Why it stays a CSPRNG:
 *  - every byte comes from getrandom(2): the kernel's ChaCha20 CRNG, reseeded
 *    by the kernel from its entropy pool (and on VM generation changes);
 *    nothing is derived or stretched here, so there is no user-space DRBG
 *    state to reseed or health-test;
 *  - the buffer only amortizes the system call: at most kBuf bytes are held
 *    ahead of use, each byte is handed out once and wiped as it leaves, so
 *    memory read later reveals no past output;
 *  - one buffer per thread (__thread): no locking and no sharing between
 *    workers; a WOLFSSL used by one thread at a time (turnpike's rule) takes
 *    bytes from that thread's buffer;
 *  - fork: a child process discards the buffer it inherited (pthread_atfork
 *    bumps a generation), so parent and child never hand out the same bytes;
 *  - requests larger than half the buffer (key generation in the control
 *    plane) go to getrandom directly;
 *  - getrandom(flags 0) blocks only until the kernel CRNG is first seeded
 *    at boot, and any error is returned to wolfSSL (RNG_FAILURE_E), never
 *    papered over. */
#ifndef TURNPIKE_WOLFSSL_RAND_H
#define TURNPIKE_WOLFSSL_RAND_H
#ifndef __ASSEMBLER__

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define CUSTOM_RAND_GENERATE_BLOCK turnpike_rand_block
#define CUSTOM_RAND_GENERATE_SEED turnpike_rand_seed
/* random.h defines this only without a custom source, but random.c still
 * compiles the (now unused) Hash_DRBG, which names it. */
#define WC_RESEED_INTERVAL (1000000)

enum { turnpike_rand_buf = 512 };

/* All of it from the kernel, retrying short reads and EINTR. */
static inline int turnpike_rand_seed(unsigned char* out, unsigned int sz) {
  ssize_t n;
  while (sz > 0) {
    n = getrandom(out, sz, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    out += n;
    sz -= (unsigned int)n;
  }
  return 0;
}

static inline void turnpike_rand_wipe(unsigned char* p, unsigned int n) {
  volatile unsigned char* v = p;
  while (n--) *v++ = 0;
}

/* Bumped in a forked child: buffers filled before the fork are dropped. */
static inline unsigned int* turnpike_rand_forks(void) {
  static unsigned int forks;
  return &forks;
}
static inline void turnpike_rand_on_fork(void) { __atomic_add_fetch(turnpike_rand_forks(), 1, __ATOMIC_RELAXED); }
static inline void turnpike_rand_register(void) { pthread_atfork(NULL, NULL, turnpike_rand_on_fork); }

static inline int turnpike_rand_block(unsigned char* out, unsigned int sz) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  static __thread unsigned char buf[turnpike_rand_buf];
  static __thread unsigned int left;  /* unread bytes, at the end of buf */
  static __thread unsigned int gen;   /* fork generation of those bytes */
  unsigned int forks, n;
  unsigned char* from;
  pthread_once(&once, turnpike_rand_register);
  forks = __atomic_load_n(turnpike_rand_forks(), __ATOMIC_RELAXED);
  if (gen != forks) {
    turnpike_rand_wipe(buf, turnpike_rand_buf);
    left = 0;
    gen = forks;
  }
  if (sz > turnpike_rand_buf / 2) return turnpike_rand_seed(out, sz);
  while (sz > 0) {
    if (left == 0) {
      if (turnpike_rand_seed(buf, turnpike_rand_buf) != 0) return -1;
      left = turnpike_rand_buf;
    }
    n = sz < left ? sz : left;
    from = buf + turnpike_rand_buf - left;
    memcpy(out, from, n);
    turnpike_rand_wipe(from, n);
    left -= n;
    out += n;
    sz -= n;
  }
  return 0;
}

#endif /* __ASSEMBLER__ */
#endif /* TURNPIKE_WOLFSSL_RAND_H */
