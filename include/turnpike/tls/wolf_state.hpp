/* wolf_state.c: hibernation's access to wolfSSL internals. C linkage and C
 * syntax: the C file that reads the internals includes it too. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

struct WOLFSSL;
struct WOLFSSL_SESSION;

/* The WOLFSSL this file was compiled against has the library's size. */
int tp_wolf_layout_ok(void);
/* Handshake done, no record half read, nothing buffered either way, no
 * close and no KeyUpdate answer pending. */
int tp_wolf_quiet(const struct WOLFSSL* ssl);
/* wolfSSL_tls_export plus what it leaves out; bytes written or < 0. */
int tp_wolf_export(struct WOLFSSL* ssl, unsigned char* buf, unsigned int cap);
/* Into a fresh WOLFSSL of the same context; 0 or a wolfSSL error code.
 * Frees what wolfSSL_new made for a handshake. */
int tp_wolf_import(struct WOLFSSL* ssl, const unsigned char* buf, unsigned int len);
/* Client: the connection's own session back (its reference is taken). */
int tp_wolf_swap_session(struct WOLFSSL* ssl, struct WOLFSSL_SESSION* s);

#ifdef __cplusplus
}
#endif
