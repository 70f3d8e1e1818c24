// See include/CCurl.h. Every entry point below is called only after cognito_curl_ready() returned 0,
// which the Swift client checks before its first call; pthread_once makes the load happen exactly
// once whether the preload thread or the first request gets there first.
#include <dlfcn.h>
#include <pthread.h>
#include "CCurl.h"

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} fn;
static const char *failure = "libcurl was not loaded";
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int preloading;          /* set before the preload thread starts; read by the same thread later */

static void load(void)
{
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) { failure = "cannot load libcurl.so.4 (is libcurl4 installed?)"; return; }
#define SYM(field, name) if ((*(void **)&fn.field = dlsym(lib, name)) == NULL) { failure = "libcurl.so.4 lacks " name; return; }
    SYM(global_init, "curl_global_init") SYM(easy_init, "curl_easy_init") SYM(easy_cleanup, "curl_easy_cleanup")
    SYM(easy_perform, "curl_easy_perform") SYM(easy_strerror, "curl_easy_strerror")
    SYM(easy_setopt, "curl_easy_setopt") SYM(easy_getinfo, "curl_easy_getinfo")
    SYM(slist_append, "curl_slist_append") SYM(slist_free_all, "curl_slist_free_all")
#undef SYM
    failure = fn.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? NULL : "curl_global_init failed";
}

static void *preload(void *unused) { (void)unused; pthread_once(&once, load); return NULL; }

void cognito_curl_preload(void)
{
    pthread_t t;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    preloading = pthread_create(&t, &attr, preload, NULL) == 0;   /* else the first request loads */
    (void)pthread_attr_destroy(&attr);
}

void cognito_curl_settle(void)
{
    if (preloading) pthread_once(&once, load);
}

int cognito_curl_ready(const char **why)
{
    pthread_once(&once, load);
    if (why != NULL) *why = failure;
    return failure == NULL ? 0 : -1;
}

CURL *cognito_curl_easy_init(void) { return fn.easy_init(); }
void cognito_curl_easy_cleanup(CURL *handle) { fn.easy_cleanup(handle); }
CURLcode cognito_curl_easy_perform(CURL *handle) { return fn.easy_perform(handle); }
const char *cognito_curl_easy_strerror(CURLcode code) { return fn.easy_strerror(code); }
struct curl_slist *cognito_curl_slist_append(struct curl_slist *l, const char *s) { return fn.slist_append(l, s); }
void cognito_curl_slist_free_all(struct curl_slist *list) { fn.slist_free_all(list); }
CURLcode cognito_curl_setopt_long(CURL *h, CURLoption o, long v) { return fn.easy_setopt(h, o, v); }
CURLcode cognito_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return fn.easy_setopt(h, o, v); }
CURLcode cognito_curl_setopt_pointer(CURL *h, CURLoption o, const void *v) { return fn.easy_setopt(h, o, v); }
CURLcode cognito_curl_setopt_callback(CURL *h, CURLoption o, cognito_curl_data_callback v) { return fn.easy_setopt(h, o, v); }
CURLcode cognito_curl_response_code(CURL *h, long *code) { return fn.easy_getinfo(h, CURLINFO_RESPONSE_CODE, code); }
