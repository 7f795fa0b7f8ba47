/* The parts of hibernation (session.cpp) that need wolfSSL's internal
 * structures. C, compiled against the library's own options.h so the
 * layout is the library's; tp_wolf_layout_ok() checks that at run time.
 *
 * wolfSSL_tls_export (WOLFSSL_SESSION_EXPORT) serialises the record layer:
 * options (side, version, states, suite), sequence numbers, the write keys
 * and IVs, the cipher specs. It leaves out what a TLS 1.3 connection still
 * needs after its handshake: the application traffic secrets that a
 * KeyUpdate ratchets (RFC 8446 §7.2), the messages already received (so a
 * second ClientHello is refused the same way before and after), the group
 * and, for a client, its session (resumption master secret for a later
 * NewSessionTicket, §4.6.1). This file adds them after the export. */
#include <wolfssl/options.h>
#include <wolfssl/internal.h>
#include <string.h>

#include "turnpike/tls/wolf_state.hpp"

enum { kExtra = 1 + 1 + 4 + 2 + 4 + 1 };  /* minor, secret len, msgs, group, curve OID, trailer */

int tp_wolf_layout_ok(void) { return wolfSSL_GetObjectSize() == (int)sizeof(WOLFSSL); }

int tp_wolf_quiet(const WOLFSSL* ssl) {
  const Buffers* b = &ssl->buffers;
  if (!ssl->options.handShakeDone || ssl->options.handShakeState != HANDSHAKE_DONE) return 0;
  if (ssl->options.processReply != 0 /* doProcessInit: no record half read */) return 0;
  if (b->inputBuffer.idx != b->inputBuffer.length || b->outputBuffer.length || b->clearOutputBuffer.length) return 0;
  if (ssl->options.isClosed || ssl->options.closeNotify || ssl->options.sentNotify || ssl->options.connReset) return 0;
#ifdef WOLFSSL_TLS13
  if (ssl->keys.keyUpdateRespond || ssl->keys.updateResponseReq) return 0;
#endif
  return 1;
}

int tp_wolf_export(WOLFSSL* ssl, unsigned char* buf, unsigned int cap) {
  unsigned int sz = cap;
  int n = wolfSSL_tls_export(ssl, buf, &sz);
  if (n <= 0) return n < 0 ? n : -1;
  unsigned int at = (unsigned int)n;
  unsigned int secret = 0;
#ifdef WOLFSSL_TLS13
  if (ssl->options.tls1_3) secret = ssl->specs.hash_size;
#endif
  if (secret > SECRET_LEN || at + 2 * secret + kExtra > cap) return BUFFER_E;
#ifdef WOLFSSL_TLS13
  memcpy(buf + at, ssl->clientSecret, secret);
  memcpy(buf + at + secret, ssl->serverSecret, secret);
  at += 2 * secret;
#endif
  unsigned char* e = buf + at;
  e[0] = ssl->version.minor;
  e[1] = (unsigned char)secret;
  memcpy(e + 2, &ssl->msgsReceived, sizeof ssl->msgsReceived < 4 ? sizeof ssl->msgsReceived : 4);
  e[6] = (unsigned char)(ssl->namedGroup >> 8);
  e[7] = (unsigned char)ssl->namedGroup;
  e[8] = (unsigned char)(ssl->ecdhCurveOID >> 24);
  e[9] = (unsigned char)(ssl->ecdhCurveOID >> 16);
  e[10] = (unsigned char)(ssl->ecdhCurveOID >> 8);
  e[11] = (unsigned char)ssl->ecdhCurveOID;
  e[12] = (unsigned char)(2 * secret + kExtra);
  return (int)(at + kExtra);
}

int tp_wolf_import(WOLFSSL* ssl, const unsigned char* buf, unsigned int len) {
  if (len < kExtra) return BUFFER_E;
  const unsigned char* e = buf + len - kExtra;
  const unsigned int secret = e[1];
  if (e[12] != 2 * secret + kExtra || secret > SECRET_LEN || len < 2 * secret + kExtra) return BUFFER_E;
  const unsigned int body = len - 2 * secret - kExtra;
  /* The export checks the version it was made with against this object's. */
  ssl->version.major = SSLv3_MAJOR;
  ssl->version.minor = e[0];
  int n = wolfSSL_tls_import(ssl, buf, body);
  if (n < 0) return n;
  if ((unsigned int)n != body) return BUFFER_E;
  if (secret) {
#ifdef WOLFSSL_TLS13
    if (!ssl->options.tls1_3 || secret != ssl->specs.hash_size) return BUFFER_E;
    memcpy(ssl->clientSecret, buf + body, secret);
    memcpy(ssl->serverSecret, buf + body + secret, secret);
#else
    return BUFFER_E;
#endif
  }
  memcpy(&ssl->msgsReceived, e + 2, sizeof ssl->msgsReceived < 4 ? sizeof ssl->msgsReceived : 4);
  ssl->namedGroup = (word16)(e[6] << 8 | e[7]);
  ssl->ecdhCurveOID = (word32)e[8] << 24 | (word32)e[9] << 16 | (word32)e[10] << 8 | e[11];
  /* What wolfSSL_new made for a handshake that will not happen. */
  FreeHandshakeResources(ssl);
  FreeSuites(ssl);
  return 0;
}

int tp_wolf_swap_session(WOLFSSL* ssl, WOLFSSL_SESSION* s) {
  if (!s) return -1;
  wolfSSL_FreeSession(ssl->ctx, ssl->session);
  ssl->session = s;
  return 0;
}
