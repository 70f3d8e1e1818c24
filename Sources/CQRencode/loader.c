// See include/CQRencode.h. pthread_once makes the load happen exactly once.
#include <dlfcn.h>
#include <pthread.h>
#include "CQRencode.h"

static QRcode *(*encode_string)(const char *, int, QRecLevel, QRencodeMode, int);
static void (*code_free)(QRcode *);
static const char *failure = "libqrencode was not loaded";
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    void *lib = dlopen("libqrencode.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) { failure = "cannot load libqrencode.so.4 (is libqrencode4 installed?)"; return; }
    *(void **)&encode_string = dlsym(lib, "QRcode_encodeString");
    *(void **)&code_free = dlsym(lib, "QRcode_free");
    failure = encode_string != NULL && code_free != NULL ? NULL : "libqrencode.so.4 lacks QRcode_encodeString or QRcode_free";
}

QRcode *cognito_qr_encode(const char *text, const char **why)
{
    QRcode *code = NULL;
    pthread_once(&once, load);
    if (failure == NULL && (code = encode_string(text, 0, QR_ECLEVEL_L, QR_MODE_8, 1)) == NULL && why != NULL)
        *why = "libqrencode cannot encode the text";
    else if (failure != NULL && why != NULL)
        *why = failure;
    return code;
}

void cognito_qr_free(QRcode *code)
{
    if (code != NULL && code_free != NULL) code_free(code);
}
