/* Which sanitizer this file is built with (private: for src/ only), as PD_ASAN and PD_TSAN. */
#pragma once

/* gcc says __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang answers __has_feature,
 * which older gcc cannot parse, hence the nested #if. */
#if defined(__SANITIZE_ADDRESS__)
#define PD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PD_ASAN 1
#endif
#endif
#ifndef PD_ASAN
#define PD_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define PD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PD_TSAN 1
#endif
#endif
#ifndef PD_TSAN
#define PD_TSAN 0
#endif
