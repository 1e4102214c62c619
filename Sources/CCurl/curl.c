// The calls below go through function pointers; curl.h's type-checking macros wrap the functions.
#define CURL_DISABLE_TYPECHECK
#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

// The soname of libcurl's ABI 4, which every libcurl since 7.16 keeps (Debian's libcurl4 and
// libcurl3-gnutls both provide a libcurl.so.4; the former is the one built against).
// -DVIGIL_CURL_SONAME=\"…\" builds for a libcurl of another name.
#ifndef VIGIL_CURL_SONAME
#define VIGIL_CURL_SONAME "libcurl.so.4"
#endif
#define VIGIL_CURL_INSTALL "install libcurl4 (Debian, Ubuntu: apt-get install libcurl4; Fedora, RHEL: dnf install libcurl)"

// Each function's own type, from <curl/curl.h>, so that a signature cannot drift.
#define VIGIL_CURL_FUNCTIONS(X) \
    X(curl_version) X(curl_global_init) \
    X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset) X(curl_easy_strerror) \
    X(curl_easy_setopt) X(curl_easy_getinfo) \
    X(curl_multi_init) X(curl_multi_cleanup) X(curl_multi_add_handle) X(curl_multi_remove_handle) \
    X(curl_multi_perform) X(curl_multi_poll) X(curl_multi_wakeup) X(curl_multi_info_read) X(curl_multi_strerror) \
    X(curl_slist_append) X(curl_slist_free_all) \
    X(curl_url) X(curl_url_cleanup) X(curl_url_get) X(curl_url_set) X(curl_free)

static struct {
#define VIGIL_CURL_POINTER(name) __typeof__(name) *name;
    VIGIL_CURL_FUNCTIONS(VIGIL_CURL_POINTER)
#undef VIGIL_CURL_POINTER
} curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
// Written once inside load_once; `loaded` is then read (acquire) by the wrappers on any thread.
static int loaded;
static char load_error[768];

static void load(void) {
    void *library = dlopen(VIGIL_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error, VIGIL_CURL_SONAME " could not be loaded (%s): pushes need it; " VIGIL_CURL_INSTALL,
                 reason ? reason : "no reason given");
        return;
    }
#define VIGIL_CURL_RESOLVE(name) \
    if ((curl.name = (__typeof__(name) *)dlsym(library, #name)) == NULL) { \
        snprintf(load_error, sizeof load_error, VIGIL_CURL_SONAME " has no " #name ": pushes need libcurl 7.68 or later; " VIGIL_CURL_INSTALL); \
        dlclose(library); \
        return; \
    }
    VIGIL_CURL_FUNCTIONS(VIGIL_CURL_RESOLVE)
#undef VIGIL_CURL_RESOLVE
    CURLcode code = curl.curl_global_init(CURL_GLOBAL_ALL);
    if (code != CURLE_OK) {
        snprintf(load_error, sizeof load_error, "curl_global_init failed: %s (curl error %d)", curl.curl_easy_strerror(code), (int)code);
        return;  // libcurl stays loaded: it may have started initialising what it cannot undo
    }
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
}

bool vigil_curl_load(char *error, size_t length) {
    pthread_once(&load_once, load);
    bool ok = __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
    if (!ok && error != NULL && length > 0) snprintf(error, length, "%s", load_error);
    return ok;
}

static inline bool ready(void) { return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE); }

const char *vigil_curl_version(void) { return ready() ? curl.curl_version() : NULL; }
CURL *vigil_curl_easy_init(void) { return ready() ? curl.curl_easy_init() : NULL; }
void vigil_curl_easy_cleanup(CURL *handle) { if (ready()) curl.curl_easy_cleanup(handle); }
void vigil_curl_easy_reset(CURL *handle) { if (ready()) curl.curl_easy_reset(handle); }
const char *vigil_curl_easy_strerror(CURLcode code) { return ready() ? curl.curl_easy_strerror(code) : "libcurl is not loaded"; }
CURLM *vigil_curl_multi_init(void) { return ready() ? curl.curl_multi_init() : NULL; }
CURLMcode vigil_curl_multi_cleanup(CURLM *multi) { return ready() ? curl.curl_multi_cleanup(multi) : CURLM_INTERNAL_ERROR; }
CURLMcode vigil_curl_multi_add_handle(CURLM *multi, CURL *handle) { return ready() ? curl.curl_multi_add_handle(multi, handle) : CURLM_INTERNAL_ERROR; }
CURLMcode vigil_curl_multi_remove_handle(CURLM *multi, CURL *handle) { return ready() ? curl.curl_multi_remove_handle(multi, handle) : CURLM_INTERNAL_ERROR; }
CURLMcode vigil_curl_multi_perform(CURLM *multi, int *running) { return ready() ? curl.curl_multi_perform(multi, running) : CURLM_INTERNAL_ERROR; }
CURLMcode vigil_curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int count, int timeout_ms, int *ready_count) {
    return ready() ? curl.curl_multi_poll(multi, extra, count, timeout_ms, ready_count) : CURLM_INTERNAL_ERROR;
}
CURLMcode vigil_curl_multi_wakeup(CURLM *multi) { return ready() ? curl.curl_multi_wakeup(multi) : CURLM_INTERNAL_ERROR; }
CURLMsg *vigil_curl_multi_info_read(CURLM *multi, int *left) { return ready() ? curl.curl_multi_info_read(multi, left) : NULL; }
const char *vigil_curl_multi_strerror(CURLMcode code) { return ready() ? curl.curl_multi_strerror(code) : "libcurl is not loaded"; }
struct curl_slist *vigil_curl_slist_append(struct curl_slist *list, const char *string) { return ready() ? curl.curl_slist_append(list, string) : NULL; }
void vigil_curl_slist_free_all(struct curl_slist *list) { if (ready()) curl.curl_slist_free_all(list); }
CURLU *vigil_curl_url(void) { return ready() ? curl.curl_url() : NULL; }
void vigil_curl_url_cleanup(CURLU *url) { if (ready()) curl.curl_url_cleanup(url); }
CURLUcode vigil_curl_url_get(CURLU *url, CURLUPart part, char **value, unsigned int flags) {
    return ready() ? curl.curl_url_get(url, part, value, flags) : CURLUE_OUT_OF_MEMORY;
}
CURLUcode vigil_curl_url_set(CURLU *url, CURLUPart part, const char *value, unsigned int flags) {
    return ready() ? curl.curl_url_set(url, part, value, flags) : CURLUE_OUT_OF_MEMORY;
}
void vigil_curl_free(void *pointer) { if (ready()) curl.curl_free(pointer); }

CURLcode vigil_curl_set_long(CURL *handle, CURLoption option, long value) {
    return ready() ? curl.curl_easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}
CURLcode vigil_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return ready() ? curl.curl_easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}
CURLcode vigil_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return ready() ? curl.curl_easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}
CURLcode vigil_curl_set_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return ready() ? curl.curl_easy_setopt(handle, option, value) : CURLE_FAILED_INIT;
}
CURLcode vigil_curl_set_callback(CURL *handle, CURLoption option, vigil_curl_data_callback callback) {
    return ready() ? curl.curl_easy_setopt(handle, option, callback) : CURLE_FAILED_INIT;
}
CURLcode vigil_curl_get_long(CURL *handle, CURLINFO info, long *value) {
    return ready() ? curl.curl_easy_getinfo(handle, info, value) : CURLE_FAILED_INIT;
}
