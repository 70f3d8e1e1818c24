// The system libqrencode for the device/relay prompt's QR code (CognitoAuthRuntime/QRCode.swift),
// loaded with dlopen the first time a QR code is drawn, not by the dynamic loader at exec: most
// logins (every one over SSH, where `qr = auto` draws none) never need it, and the helper's `ldd`
// stays libc, libm, libstdc++ and libgcc_s.
#ifndef COGNITO_CQRENCODE_H
#define COGNITO_CQRENCODE_H

#include <qrencode.h>

/// The QR code of `text` (8-bit mode, error correction level L), or NULL when libqrencode cannot be
/// loaded or cannot encode the text; `why` (if given) then says which. Free it with cognito_qr_free.
QRcode *cognito_qr_encode(const char *text, const char **why);
void cognito_qr_free(QRcode *code);

#endif
