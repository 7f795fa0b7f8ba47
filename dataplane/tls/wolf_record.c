/* The application-data fast path of an open TLS 1.3 or TLS 1.2 AES-GCM
 * session (session.cpp), kTLS style: records are opened and sealed here with the
 * WOLFSSL's own keyed AES contexts, static IVs and sequence numbers, so the
 * WOLFSSL stays the one record of the connection's state (a later wolfSSL
 * call, a KeyUpdate or a hibernation sees the same sequence numbers).
 * Compiled against the library's options.h and internal.h like
 * wolf_state.c, and used only when tp_wolf_layout_ok() holds.
 *
 * Anything but a plain application_data record with nothing else pending
 * is left to wolfSSL untouched: tp_wolf_open changes no state unless the
 * tag verifies and the inner type is application_data, so alerts,
 * KeyUpdate, NewSessionTicket, close_notify and bad_record_mac go through
 * wolfSSL exactly as before. */
#include <wolfssl/options.h>
#include <wolfssl/internal.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <string.h>

#include "turnpike/tls/wolf_record.hpp"

#if defined(HAVE_MAX_FRAGMENT) || defined(WOLFSSL_EARLY_DATA) || defined(ATOMIC_USER) || defined(HAVE_LIBZ) || \
    defined(WOLFSSL_ASYNC_CRYPT) || defined(WOLFSSL_QUIC) || defined(HAVE_WRITE_DUP) || !defined(WOLFSSL_TLS13) || \
    !defined(HAVE_AESGCM)
/* Each changes what a record of an open session is or how wolfSSL treats
 * it: rebuild this file's rules against wolfSSL's before turning one on. */
#define TP_FAST_OFF 1
#endif

enum {
  kHdr = RECORD_HEADER_SZ,
  kTag = AES_GCM_AUTH_SZ, /* every AES-GCM TLS suite: 16 bytes (RFC 5116 §5.1) */
  kNonce = AESGCM_NONCE_SZ,
  kSalt = AESGCM_IMP_IV_SZ,     /* TLS 1.2: the implicit part of the nonce (RFC 5288 §3) */
  kExplicit = AESGCM_EXP_IV_SZ, /* TLS 1.2: the explicit part, sent before the ciphertext */
  kAad12 = 13,                  /* RFC 5246 §6.2.3.3: seq_num, type, version, length */
  kInnerMax = (1 << 14) + 1, /* RFC 8446 §5.2: TLSInnerPlaintext of at most 2^14 + 1 bytes */
  kContentMax = 1 << 14,
  kTypeAppData = 23,
  /* Below wolfSSL's own TLS 1.3 AES-GCM record limit (RFC 8446 §5.5,
   * 2^24.5 records): from there on every record goes through wolfSSL,
   * which updates the keys when it must (TLS 1.2 has no such limit; the
   * same bound there only keeps the sequence number far from wrapping). */
  kSeqFastMax = 0x01600000,
};

_Static_assert((int)kHdr == (int)TP_TLS_HEADER && (int)kTag == (int)TP_TLS_TAG, "record sizes");
_Static_assert((int)TP_TLS_SEAL_MAX >= (int)kHdr + (int)kContentMax + 1 + (int)kTag, "sealed TLS 1.3 record size");
_Static_assert((int)TP_TLS_SEAL_MAX >= (int)kHdr + (int)kExplicit + (int)kContentMax + (int)kTag,
               "sealed TLS 1.2 record size");

int tp_wolf_fast_capable(const WOLFSSL* ssl) {
#ifdef TP_FAST_OFF
  (void)ssl;
  return 0;
#else
  if (ssl->options.dtls || !ssl->options.handShakeDone) return 0;
  if (ssl->specs.bulk_cipher_algorithm != wolfssl_aes_gcm || ssl->specs.cipher_type != aead ||
      ssl->specs.aead_mac_size != kTag)
    return 0;
  if (!ssl->options.tls1_3 && (ssl->version.major != SSLv3_MAJOR || ssl->version.minor != TLSv1_2_MINOR)) return 0;
  if (ssl->ctx && ssl->ctx->PerformTlsRecordProcessingCb) return 0;
  if (ssl->CBIS) return 0; /* the OpenSSL layer's info callback sees every read and write */
  return 1;
#endif
}

/* Nothing of wolfSSL's own in the way: handshake over, encryption on, no
 * error, alert, close, KeyUpdate answer or renegotiation pending. Only
 * what changes while a session is open is read here (the suite is
 * tp_wolf_fast_capable's, decided once): each WOLFSSL cache line not
 * touched is a miss saved with thousands of connections. */
static int common_ok(const WOLFSSL* ssl) {
  const Options* o = &ssl->options;
  if (o->handShakeState != HANDSHAKE_DONE || !ssl->keys.encryptionOn) return 0;
  if (o->isClosed || o->closeNotify || o->sentNotify || o->connReset) return 0;
  if (ssl->keys.keyUpdateRespond || ssl->keys.updateResponseReq) return 0;
  if (ssl->error != 0 && ssl->error != WANT_READ && ssl->error != WANT_WRITE) return 0;
  if (ssl->pendingAlert.level != alert_none) return 0;
#ifdef HAVE_SECURE_RENEGOTIATION
  /* TLS 1.2 only (a separate object: one more line to fetch). */
  if (!o->tls1_3 && ssl->secure_renegotiation && ssl->secure_renegotiation->startScr) return 0;
#endif
  return 1;
}

void tp_wolf_prefetch(const WOLFSSL* ssl, int read) {
  /* The lines the checks and the record crypto read, all asked for at
   * once: with thousands of connections each is likely a miss, and
   * fetched one after another their latencies would add up. */
  __builtin_prefetch(&ssl->options);
  __builtin_prefetch((const char*)&ssl->options + sizeof ssl->options - 1);
  __builtin_prefetch(&ssl->keys.encryptionOn);
  __builtin_prefetch(&ssl->error);
  __builtin_prefetch(read ? (const void*)&ssl->decrypt : (const void*)&ssl->encrypt);
  __builtin_prefetch(read ? ssl->keys.aead_dec_imp_IV : ssl->keys.aead_enc_imp_IV);
  if (read) {
    __builtin_prefetch(&ssl->buffers.inputBuffer.idx);
    __builtin_prefetch(&ssl->buffers.clearOutputBuffer.length);
  } else {
    __builtin_prefetch(&ssl->buffers.outputBuffer.length);
  }
}

int tp_wolf_fast_read_ok(const WOLFSSL* ssl) {
  if (!common_ok(ssl) || !ssl->decrypt.setup || !ssl->decrypt.aes) return 0;
  return ssl->options.processReply == 0 /* doProcessInit */ &&
         ssl->buffers.inputBuffer.idx == ssl->buffers.inputBuffer.length && ssl->buffers.clearOutputBuffer.length == 0;
}

int tp_wolf_fast_write_ok(const WOLFSSL* ssl) {
  if (!common_ok(ssl) || !ssl->encrypt.setup || !ssl->encrypt.aes) return 0;
  if (ssl->buffers.outputBuffer.length) return 0;
  return ssl->keys.sequence_number_hi == 0 && ssl->keys.sequence_number_lo < kSeqFastMax;
}

/* RFC 8446 §5.3: the per-record nonce is the static IV XORed with the
 * 64-bit record sequence number, left-padded to the IV's length. */
static void make_nonce(byte nonce[kNonce], const byte* iv, word32 hi, word32 lo) {
  memcpy(nonce, iv, kNonce);
  const byte seq[8] = {(byte)(hi >> 24), (byte)(hi >> 16), (byte)(hi >> 8), (byte)hi,
                       (byte)(lo >> 24), (byte)(lo >> 16), (byte)(lo >> 8), (byte)lo};
  for (int i = 0; i < 8; ++i) nonce[kNonce - 8 + i] ^= seq[i];
}

static void seq_bytes(byte out[8], word32 hi, word32 lo) {
  const byte b[8] = {(byte)(hi >> 24), (byte)(hi >> 16), (byte)(hi >> 8), (byte)hi,
                     (byte)(lo >> 24), (byte)(lo >> 16), (byte)(lo >> 8), (byte)lo};
  memcpy(out, b, 8);
}

/* RFC 5246 §6.2.3.3 / RFC 5288 §3: GenericAEADCipher is the explicit
 * nonce, then the ciphertext and tag; the nonce is the implicit salt and
 * the explicit part, the additional data the sequence number, type,
 * version and plaintext length. */
static int open12(WOLFSSL* ssl, const unsigned char* rec, unsigned int avail, unsigned char* out, unsigned int cap) {
  if (rec[0] != kTypeAppData || rec[1] != ssl->version.major || rec[2] != ssl->version.minor) return 0;
  const unsigned int len = (unsigned int)rec[3] << 8 | rec[4];
  if (len < kExplicit + kTag + 1 || len - kExplicit - kTag > kContentMax || avail < kHdr + len) return 0;
  const unsigned int plain = len - kExplicit - kTag;
  if (plain > cap) return 0;
  if (ssl->keys.peer_sequence_number_hi == 0xffffffffu && ssl->keys.peer_sequence_number_lo == 0xffffffffu) return 0;
  byte nonce[kNonce];
  memcpy(nonce, ssl->keys.aead_dec_imp_IV, kSalt);
  memcpy(nonce + kSalt, rec + kHdr, kExplicit);
  byte aad[kAad12];
  seq_bytes(aad, ssl->keys.peer_sequence_number_hi, ssl->keys.peer_sequence_number_lo);
  memcpy(aad + 8, rec, 3);
  aad[11] = (byte)(plain >> 8);
  aad[12] = (byte)plain;
  const int r = wc_AesGcmDecrypt(ssl->decrypt.aes, out, rec + kHdr + kExplicit, plain, nonce, kNonce,
                                 rec + kHdr + kExplicit + plain, kTag, aad, kAad12);
  if (r != 0) {
    explicit_bzero(out, plain); /* unauthenticated bytes: not left for the caller */
    return 0;
  }
  if (++ssl->keys.peer_sequence_number_lo == 0) ++ssl->keys.peer_sequence_number_hi;
  return (int)plain;
}

int tp_wolf_open(WOLFSSL* ssl, const unsigned char* rec, unsigned int avail, unsigned char* out, unsigned int cap,
                 unsigned char* bounce) {
  if (avail < kHdr) return 0;
  if (!ssl->options.tls1_3) return open12(ssl, rec, avail, out, cap);
  /* RFC 8446 §5.2: an protected record is outer type application_data,
   * legacy_record_version 0x0303, at most 2^14 + 256 bytes, and its inner
   * plaintext at most 2^14 + 1. Anything else: wolfSSL's alerts. */
  if (rec[0] != kTypeAppData || rec[1] != 3 || rec[2] != 3) return 0;
  const unsigned int len = (unsigned int)rec[3] << 8 | rec[4];
  if (len < kTag + 1 || len - kTag > kInnerMax || avail < kHdr + len) return 0;
  if (ssl->keys.peer_sequence_number_hi == 0xffffffffu && ssl->keys.peer_sequence_number_lo == 0xffffffffu)
    return 0; /* §5.3: the sequence number must not wrap */
  const unsigned int inner = len - kTag;
  byte* dst = inner <= cap ? out : bounce;
  byte nonce[kNonce];
  make_nonce(nonce, ssl->keys.aead_dec_imp_IV, ssl->keys.peer_sequence_number_hi, ssl->keys.peer_sequence_number_lo);
  const int r = wc_AesGcmDecrypt(ssl->decrypt.aes, dst, rec + kHdr, inner, nonce, kNonce, rec + kHdr + inner, kTag,
                                 rec, kHdr);
  explicit_bzero(nonce, sizeof nonce);
  if (r != 0) {
    explicit_bzero(dst, inner); /* unauthenticated bytes: not left for the caller */
    return 0;
  }
  /* §5.4: the content type is the last non-zero byte; the zeros after it
   * are padding. */
  unsigned int i = inner;
  while (i > 0 && dst[i - 1] == 0) --i;
  if (i < 2 || dst[i - 1] != kTypeAppData || i - 1 > kContentMax || (dst == bounce && i - 1 > cap)) {
    /* Handshake (KeyUpdate, NewSessionTicket), alert, an empty record,
     * all padding, or more than the caller can take: wolfSSL reads the
     * same record again. */
    explicit_bzero(dst, inner);
    return 0;
  }
  const unsigned int content = i - 1;
  if (dst == bounce) {
    memcpy(out, bounce, content);
    explicit_bzero(bounce, inner);
  }
  /* Commit: the record is the peer's next one. */
  if (++ssl->keys.peer_sequence_number_lo == 0) ++ssl->keys.peer_sequence_number_hi;
  return (int)content;
}

/* TLS 1.2: the nonce is the AES context's own running one, as wolfSSL
 * keeps it (wc_AesGcmEncrypt_ex: salt and a counter started at random,
 * one step per record), so records sealed here and by wolfSSL never
 * share a nonce; its explicit part goes on the wire (RFC 5288 §3). */
static int seal12(WOLFSSL* ssl, const unsigned char* p, unsigned int n, unsigned char* out) {
  const unsigned int len = kExplicit + n + kTag;
  out[0] = kTypeAppData;
  out[1] = ssl->version.major;
  out[2] = ssl->version.minor;
  out[3] = (byte)(len >> 8);
  out[4] = (byte)len;
  byte aad[kAad12];
  seq_bytes(aad, ssl->keys.sequence_number_hi, ssl->keys.sequence_number_lo);
  memcpy(aad + 8, out, 3);
  aad[11] = (byte)(n >> 8);
  aad[12] = (byte)n;
  byte nonce[kNonce];
  const int r = wc_AesGcmEncrypt_ex(ssl->encrypt.aes, out + kHdr + kExplicit, p, n, nonce, kNonce,
                                    out + kHdr + kExplicit + n, kTag, aad, kAad12);
  if (r != 0) {
    explicit_bzero(out + kHdr, len);
    return 0;
  }
  memcpy(out + kHdr, nonce + kSalt, kExplicit);
  if (++ssl->keys.sequence_number_lo == 0) ++ssl->keys.sequence_number_hi;
  return (int)(kHdr + len);
}

int tp_wolf_seal(WOLFSSL* ssl, const unsigned char* p, unsigned int n, unsigned char* out) {
  if (n == 0 || n > kContentMax) return 0;
  if (!ssl->options.tls1_3) return seal12(ssl, p, n, out);
  const unsigned int inner = n + 1;
  const unsigned int len = inner + kTag;
  out[0] = kTypeAppData;  /* RFC 8446 §5.2: opaque_type, legacy_record_version, length */
  out[1] = 3;
  out[2] = 3;
  out[3] = (byte)(len >> 8);
  out[4] = (byte)len;
  memcpy(out + kHdr, p, n);
  out[kHdr + n] = kTypeAppData; /* TLSInnerPlaintext.type, no padding */
  byte nonce[kNonce];
  make_nonce(nonce, ssl->keys.aead_enc_imp_IV, ssl->keys.sequence_number_hi, ssl->keys.sequence_number_lo);
  const int r = wc_AesGcmEncrypt(ssl->encrypt.aes, out + kHdr, out + kHdr, inner, nonce, kNonce, out + kHdr + inner,
                                 kTag, out, kHdr);
  explicit_bzero(nonce, sizeof nonce);
  if (r != 0) {
    explicit_bzero(out + kHdr, inner);
    return 0;
  }
  if (++ssl->keys.sequence_number_lo == 0) ++ssl->keys.sequence_number_hi;
  return (int)(kHdr + len);
}
