/* What xfrd.c shares with xfrd_net.c: UDP and TCP exchanges with primaries and targets. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "pindns/xfrconf.h"

/** Milliseconds of the monotonic clock. */
int64_t pd__xfrd_now_ms(void);

/** The address as the log writes it: "192.0.2.1:53", "[2001:db8::1]:53". */
void pd__xfrd_addr_str(const struct sockaddr *sa, char *buf, size_t cap);

/**
 * One query over UDP to r: sends msg, waits up to timeout_ms for a response carrying its
 * ID (others are dropped), or until cancel_fd (-1: none) is readable. Returns the
 * response's length, -ETIMEDOUT, -ECANCELED, or another negative errno.
 */
ssize_t pd__xfrd_udp(const pd_xfr_remote_t *r, const uint8_t *msg, size_t len, uint8_t *resp,
                     size_t cap, int timeout_ms, int cancel_fd);

/** A TCP connection to r, made within timeout_ms: the descriptor, or a negative errno. */
int pd__xfrd_tcp_connect(const pd_xfr_remote_t *r, int timeout_ms, int cancel_fd);

/** Sends msg with its two-byte length before deadline_ms: 0 or a negative errno. */
int pd__xfrd_tcp_send(int fd, const uint8_t *msg, size_t len, int64_t deadline_ms, int cancel_fd);

/**
 * Reads the next message (its two-byte length, then itself) into buf before deadline_ms.
 * Returns its length, 0 when the peer closed the connection between messages, -EPIPE
 * when it closed in the middle of one, -EMSGSIZE, -ETIMEDOUT, -ECANCELED, or -errno.
 */
ssize_t pd__xfrd_tcp_recv(int fd, uint8_t *buf, size_t cap, int64_t deadline_ms, int cancel_fd);

/**
 * The serial of the SOA of origin (lower-cased wire form) in the answer section of the
 * response resp (len bytes, names maybe compressed): 0 and *serial, or -EPROTO when it
 * has none or is malformed. What a primary says to our SOA query: fuzzed.
 */
int pd__xfrd_soa_serial(const uint8_t *resp, size_t len, const uint8_t *origin, uint32_t *serial);
