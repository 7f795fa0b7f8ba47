// The crypto floor later layers compare against: proves the project's wolfSSL
// build (AES-NI, SP asm) and measures the primitives a TLS 1.3 handshake and a
// SIP message pair pay for.
#include <benchmark/benchmark.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <cstdlib>
#include <vector>

namespace {

WC_RNG& rng() {
  static WC_RNG r;
  static bool init = [] { return wc_InitRng(&r) == 0; }();
  if (!init) std::abort();
  return r;
}

void BM_AesGcm128Encrypt(benchmark::State& state) {
  const std::size_t len = static_cast<std::size_t>(state.range(0));
  Aes aes;
  const byte key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  byte iv[12] = {};
  byte tag[16];
  const byte aad[5] = {23, 3, 3, 0x40, 0x11};  // a TLS 1.3 record header
  std::vector<byte> in(len, 0xab), out(len);
  if (wc_AesInit(&aes, nullptr, INVALID_DEVID) || wc_AesGcmSetKey(&aes, key, sizeof key)) {
    state.SkipWithError("AES-GCM key setup failed");
    return;
  }
  for (auto _ : state) {
    ++iv[11];
    if (wc_AesGcmEncrypt(&aes, out.data(), in.data(), static_cast<word32>(len), iv, sizeof iv, tag, sizeof tag, aad,
                         sizeof aad)) {
      state.SkipWithError("encrypt failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * len));
  wc_AesFree(&aes);
}
BENCHMARK(BM_AesGcm128Encrypt)->Arg(16384)->Arg(700)->Arg(1400);

void BM_AesGcm128Decrypt(benchmark::State& state) {
  const std::size_t len = static_cast<std::size_t>(state.range(0));
  Aes aes;
  const byte key[16] = {9};
  const byte iv[12] = {1};
  byte tag[16];
  std::vector<byte> plain(len, 0x5a), ct(len), out(len);
  wc_AesInit(&aes, nullptr, INVALID_DEVID);
  wc_AesGcmSetKey(&aes, key, sizeof key);
  wc_AesGcmEncrypt(&aes, ct.data(), plain.data(), static_cast<word32>(len), iv, sizeof iv, tag, sizeof tag, nullptr, 0);
  for (auto _ : state) {
    if (wc_AesGcmDecrypt(&aes, out.data(), ct.data(), static_cast<word32>(len), iv, sizeof iv, tag, sizeof tag,
                         nullptr, 0)) {
      state.SkipWithError("decrypt/auth failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * len));
  wc_AesFree(&aes);
}
BENCHMARK(BM_AesGcm128Decrypt)->Arg(16384);

struct EccKey {
  ecc_key k;
  EccKey() {
    wc_ecc_init(&k);
    if (wc_ecc_make_key_ex(&rng(), 32, &k, ECC_SECP256R1)) std::abort();
    wc_ecc_set_rng(&k, &rng());
  }
  ~EccKey() { wc_ecc_free(&k); }
};

void BM_EcdsaP256Sign(benchmark::State& state) {
  EccKey key;
  byte hash[32] = {7};
  byte sig[80];
  for (auto _ : state) {
    word32 len = sizeof sig;
    if (wc_ecc_sign_hash(hash, sizeof hash, sig, &len, &rng(), &key.k)) {
      state.SkipWithError("sign failed");
      break;
    }
    ++hash[0];
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EcdsaP256Sign);

void BM_EcdsaP256Verify(benchmark::State& state) {
  EccKey key;
  byte hash[32] = {7};
  byte sig[80];
  word32 len = sizeof sig;
  wc_ecc_sign_hash(hash, sizeof hash, sig, &len, &rng(), &key.k);
  for (auto _ : state) {
    int ok = 0;
    if (wc_ecc_verify_hash(sig, len, hash, sizeof hash, &ok, &key.k) || !ok) {
      state.SkipWithError("verify failed");
      break;
    }
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EcdsaP256Verify);

void BM_EcdhP256(benchmark::State& state) {
  EccKey a, b;
  byte secret[32];
  for (auto _ : state) {
    word32 len = sizeof secret;
    if (wc_ecc_shared_secret(&a.k, &b.k, secret, &len)) {
      state.SkipWithError("ECDH failed");
      break;
    }
    benchmark::DoNotOptimize(secret);
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EcdhP256);

void BM_EcdhP256KeyGen(benchmark::State& state) {
  for (auto _ : state) {
    ecc_key k;
    wc_ecc_init(&k);
    if (wc_ecc_make_key_ex(&rng(), 32, &k, ECC_SECP256R1)) state.SkipWithError("keygen failed");
    wc_ecc_free(&k);
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EcdhP256KeyGen);

void BM_X25519(benchmark::State& state) {
  curve25519_key a, b;
  wc_curve25519_init(&a);
  wc_curve25519_init(&b);
  if (wc_curve25519_make_key(&rng(), 32, &a) || wc_curve25519_make_key(&rng(), 32, &b)) {
    state.SkipWithError("X25519 keygen failed");
    return;
  }
  byte secret[32];
  for (auto _ : state) {
    word32 len = sizeof secret;
    if (wc_curve25519_shared_secret(&a, &b, secret, &len)) {
      state.SkipWithError("X25519 failed");
      break;
    }
    benchmark::DoNotOptimize(secret);
  }
  state.counters["ops/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  wc_curve25519_free(&a);
  wc_curve25519_free(&b);
}
BENCHMARK(BM_X25519);

void BM_Sha256(benchmark::State& state) {
  std::vector<byte> in(static_cast<std::size_t>(state.range(0)), 0x61);
  byte digest[32];
  for (auto _ : state) {
    wc_Sha256 sha;
    wc_InitSha256(&sha);
    wc_Sha256Update(&sha, in.data(), static_cast<word32>(in.size()));
    wc_Sha256Final(&sha, digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_Sha256)->Arg(1536);

}  // namespace

BENCHMARK_MAIN();
