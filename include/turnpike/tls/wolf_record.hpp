/* wolf_record.c: the application-data fast path of an open TLS 1.3 or
 * TLS 1.2 AES-GCM session, on the WOLFSSL's own keys and sequence numbers. C
 * linkage and C syntax: the C file that reads wolfSSL's internals includes
 * it too. Every function assumes tp_wolf_layout_ok() (wolf_state.hpp). */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

struct WOLFSSL;

enum {
  TP_TLS_HEADER = 5, /* RFC 8446 §5.1 record header */
  TP_TLS_TAG = 16,   /* AES-GCM tag */
  /* One sealed record of 2^14 bytes of content: header, content, tag and
   * TLS 1.3's inner type or TLS 1.2's explicit nonce (the longer). */
  TP_TLS_SEAL_MAX = 5 + 8 + 16384 + 16,
  /* The bounce buffer tp_wolf_open needs: a whole TLSInnerPlaintext (§5.2). */
  TP_TLS_INNER_MAX = 16384 + 1,
};

/* An open session whose records the fast path may handle: TLS 1.3 or
 * TLS 1.2, an AES-GCM suite, no user callback replacing record crypto.
 * Fixed once the handshake is done (no renegotiation in this build), so
 * decided once per WOLFSSL. */
int tp_wolf_fast_capable(const struct WOLFSSL* ssl);
/* Prefetches the WOLFSSL lines the read (read != 0) or write checks and
 * crypto below will touch. */
void tp_wolf_prefetch(const struct WOLFSSL* ssl, int read);
/* For a capable session: nothing of wolfSSL's own pending on the way in
 * (resp. out): records may bypass wolfSSL now. */
int tp_wolf_fast_read_ok(const struct WOLFSSL* ssl);
int tp_wolf_fast_write_ok(const struct WOLFSSL* ssl);

/* The whole record at rec (avail bytes there) if it is application data
 * that authenticates: its content (at most cap bytes) goes to out, the
 * peer's sequence number advances, and the content's length is returned;
 * the record is 5 + (rec[3] << 8 | rec[4]) bytes. 0: not taken, nothing
 * changed (wolfSSL reads it). bounce: TP_TLS_INNER_MAX bytes of scratch
 * for a TLS 1.3 record whose inner plaintext exceeds cap. */
int tp_wolf_open(struct WOLFSSL* ssl, const unsigned char* rec, unsigned int avail, unsigned char* out,
                 unsigned int cap, unsigned char* bounce);

/* Seals n (1..2^14) bytes of application data as one record into out
 * (TP_TLS_SEAL_MAX bytes) with the next sequence number; returns the
 * record's length, 0 on failure (nothing changed). */
int tp_wolf_seal(struct WOLFSSL* ssl, const unsigned char* p, unsigned int n, unsigned char* out);

#ifdef __cplusplus
}
#endif
