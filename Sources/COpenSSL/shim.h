// The system OpenSSL, for the emulator's TLS server only (CognitoEmulator/TLSServer.swift); never
// a dependency of the helper's core or runtime. Macros Swift does not import get a wrapper.
#ifndef COGNITO_COPENSSL_SHIM_H
#define COGNITO_COPENSSL_SHIM_H

#include <openssl/err.h>
#include <openssl/ssl.h>

static inline int cognito_ssl_ctx_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

#endif
