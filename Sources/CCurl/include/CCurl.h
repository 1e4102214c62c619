#ifndef C_CURL_H
#define C_CURL_H

// libcurl, loaded with dlopen on first use instead of linked: a sidecar that pushes nowhere never
// maps libcurl and the TLS libraries it pulls in (about 5 MB resident). <curl/curl.h> gives the
// types and constants only (libcurl4-openssl-dev at build time); libcurl4 is needed at run time,
// and only by pushes.
//
// vigil_curl_load resolves every function below once; each vigil_curl_* calls libcurl's function
// of the same name through the pointer it resolved. Before a successful load they do nothing and
// return CURLE_FAILED_INIT, CURLM_INTERNAL_ERROR, CURLUE_OUT_OF_MEMORY or NULL, so a caller that
// forgot to load fails instead of crashing.
#if !__has_include(<curl/curl.h>)
#error "<curl/curl.h> is missing: Vigil builds against libcurl's headers (Debian: apt-get install libcurl4-openssl-dev; `make setup` installs it)"
#endif
#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/// Loads libcurl.so.4 (RTLD_NOW | RTLD_LOCAL), resolves the functions below and calls
/// curl_global_init(CURL_GLOBAL_ALL), once per process (pthread_once); later calls return the
/// first one's outcome. False when libcurl cannot be loaded or lacks a function Vigil calls; then
/// `error` (when not NULL and `length` > 0) holds what is missing and how to install it,
/// NUL-terminated and truncated to `length` bytes.
bool vigil_curl_load(char *error, size_t length);

const char *vigil_curl_version(void);
CURL *vigil_curl_easy_init(void);
void vigil_curl_easy_cleanup(CURL *handle);
void vigil_curl_easy_reset(CURL *handle);
const char *vigil_curl_easy_strerror(CURLcode code);
CURLM *vigil_curl_multi_init(void);
CURLMcode vigil_curl_multi_cleanup(CURLM *multi);
CURLMcode vigil_curl_multi_add_handle(CURLM *multi, CURL *handle);
CURLMcode vigil_curl_multi_remove_handle(CURLM *multi, CURL *handle);
CURLMcode vigil_curl_multi_perform(CURLM *multi, int *running);
CURLMcode vigil_curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int count, int timeout_ms, int *ready);
CURLMcode vigil_curl_multi_wakeup(CURLM *multi);
CURLMsg *vigil_curl_multi_info_read(CURLM *multi, int *left);
const char *vigil_curl_multi_strerror(CURLMcode code);
struct curl_slist *vigil_curl_slist_append(struct curl_slist *list, const char *string);
void vigil_curl_slist_free_all(struct curl_slist *list);
CURLU *vigil_curl_url(void);
void vigil_curl_url_cleanup(CURLU *url);
CURLUcode vigil_curl_url_get(CURLU *url, CURLUPart part, char **value, unsigned int flags);
CURLUcode vigil_curl_url_set(CURLU *url, CURLUPart part, const char *value, unsigned int flags);
void vigil_curl_free(void *pointer);

// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: these typed
// wrappers are the whole of what Vigil needs.
typedef size_t (*vigil_curl_data_callback)(char *data, size_t size, size_t count, void *context);

CURLcode vigil_curl_set_long(CURL *handle, CURLoption option, long value);
CURLcode vigil_curl_set_string(CURL *handle, CURLoption option, const char *value);
CURLcode vigil_curl_set_pointer(CURL *handle, CURLoption option, void *value);
CURLcode vigil_curl_set_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode vigil_curl_set_callback(CURL *handle, CURLoption option, vigil_curl_data_callback callback);
CURLcode vigil_curl_get_long(CURL *handle, CURLINFO info, long *value);

#endif
