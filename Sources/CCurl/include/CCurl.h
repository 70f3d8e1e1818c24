// The system libcurl for the HTTP client (CognitoAuthRuntime/HTTPClient.swift), loaded with dlopen
// at the first request or by cognito_curl_preload() from a thread, not by the dynamic loader at exec:
// libcurl brings some thirty libraries (OpenSSL, GnuTLS via librtmp, Kerberos, LDAP, ...) whose
// mapping and relocation took most of the helper's start-up. Swift cannot call C variadic
// functions, so curl_easy_setopt and curl_easy_getinfo get one typed wrapper per argument kind.
#ifndef COGNITO_CCURL_H
#define COGNITO_CCURL_H

#include <curl/curl.h>

typedef size_t (*cognito_curl_data_callback)(char *data, size_t size, size_t count, void *context);

/// Starts loading and initialising libcurl on a thread of its own and returns at once.
void cognito_curl_preload(void);
/// Waits for a preload under way (if any) to finish: a process must not exit while another thread
/// is inside dlopen or curl_global_init (its exit handlers would run under them).
void cognito_curl_settle(void);
/// Loads and initialises libcurl once (waiting for a preload under way). 0 when usable; otherwise
/// `why` holds the reason (dlopen's or curl_global_init's).
int cognito_curl_ready(const char **why);

CURL *cognito_curl_easy_init(void);
void cognito_curl_easy_cleanup(CURL *handle);
CURLcode cognito_curl_easy_perform(CURL *handle);
const char *cognito_curl_easy_strerror(CURLcode code);
struct curl_slist *cognito_curl_slist_append(struct curl_slist *list, const char *text);
void cognito_curl_slist_free_all(struct curl_slist *list);

CURLcode cognito_curl_setopt_long(CURL *handle, CURLoption option, long value);
/// libcurl copies the strings it is given (since 7.17).
CURLcode cognito_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
/// For buffer, curl_slist and context-pointer options: these must outlive the transfer.
CURLcode cognito_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value);
CURLcode cognito_curl_setopt_callback(CURL *handle, CURLoption option, cognito_curl_data_callback value);
CURLcode cognito_curl_response_code(CURL *handle, long *code);

#endif
