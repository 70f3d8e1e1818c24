// The system libcurl for the HTTP client (CognitoAuthRuntime/HTTPClient.swift). Swift cannot call
// C variadic functions, so curl_easy_setopt and curl_easy_getinfo get one typed wrapper per
// argument kind; CURL_GLOBAL_DEFAULT is an expression macro Swift does not import.
#ifndef COGNITO_CCURL_SHIM_H
#define COGNITO_CCURL_SHIM_H

#include <curl/curl.h>

typedef size_t (*cognito_curl_data_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode cognito_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

static inline CURLcode cognito_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/// libcurl copies the strings it is given (since 7.17).
static inline CURLcode cognito_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/// For buffer, curl_slist and context-pointer options: these must outlive the transfer.
static inline CURLcode cognito_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode cognito_curl_setopt_callback(CURL *handle, CURLoption option, cognito_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode cognito_curl_response_code(CURL *handle, long *code) {
    return curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, code);
}

#endif
