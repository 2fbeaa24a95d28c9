/* Which worker's socket a datagram goes to: the reuseport group's cBPF programs. */
#include <errno.h>
#include <linux/filter.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "engine_int.h"

#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

/* The longest client program: version test (3), IPv4 (7), IPv6 with all four words (26). */
#define PD__STEER_MAX 36
#define PD__GOLDEN 0x9E3779B1u /* an odd multiplier that spreads every input bit upward */

static int pd__attach(int fd, struct sock_filter *code, unsigned len)
{
	struct sock_fprog prog = {.len = (unsigned short)len, .filter = code};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

/*
 * Steers each datagram to the socket of the worker on the CPU whose softirq received
 * it: index cpu % workers in the reuseport group, which is the bind order, and worker
 * i binds i-th. With RSS spreading a NIC's queues over CPUs, the packet then stays on
 * one CPU's caches. Loopback delivers everything on the sender's CPU, so there it
 * would pile all load onto one worker; hence off by default.
 */
static int pd__steer_cpu(int fd, int workers)
{
	struct sock_filter code[] = {
	    {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU)},
	    {BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)workers},
	    {BPF_RET | BPF_A, 0, 0, 0},
	};
	return pd__attach(fd, code, 3);
}

/* The mask of the first bits bits of the k-th 32-bit word of an address. */
static uint32_t pd__word_mask(unsigned bits, unsigned k)
{
	if (bits <= 32 * k)
		return 0;
	if (bits >= 32 * (k + 1))
		return UINT32_MAX;
	return UINT32_MAX << (32 - (bits - 32 * k));
}

/*
 * Ends a program: the socket's index from the hash in A, scaled from its top 16 bits
 * ((h >> 16) * workers >> 16), which every bit of the address moved. A modulo would read
 * only the low bits of the product, which only the address's low bits move: with 2
 * workers a /15 prefix put every client on one.
 */
static unsigned pd__emit_pick(struct sock_filter *c, unsigned n, int workers)
{
	c[n++] = (struct sock_filter){BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16};
	c[n++] = (struct sock_filter){BPF_ALU | BPF_MUL | BPF_K, 0, 0, (uint32_t)workers};
	c[n++] = (struct sock_filter){BPF_ALU | BPF_RSH | BPF_K, 0, 0, 16};
	c[n++] = (struct sock_filter){BPF_RET | BPF_A, 0, 0, 0};
	return n;
}

/*
 * Steers every datagram of one client prefix to the same worker: the source address's
 * first v4_bits (IPv4) or v6_bits (IPv6) bits, hashed, scaled to the workers. Rate limits kept
 * per worker then see all of a prefix's traffic, so the rate is the one configured,
 * whatever source ports a client uses. The IP version is read from the packet, since a
 * dual-stack socket (systemd's [::]) receives both.
 */
static int pd__steer_client(int fd, int workers, unsigned v4_bits, unsigned v6_bits)
{
	struct sock_filter c[PD__STEER_MAX];
	unsigned n = 0;
	c[n++] = (struct sock_filter){BPF_LD | BPF_B | BPF_ABS, 0, 0, (uint32_t)SKF_NET_OFF};
	c[n++] = (struct sock_filter){BPF_ALU | BPF_RSH | BPF_K, 0, 0, 4};
	unsigned jump = n++; /* to IPv6 when the version is 6; its offset is known below */
	/* IPv4: the source address is the header's word at 12. */
	c[n++] = (struct sock_filter){BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_NET_OFF + 12)};
	c[n++] = (struct sock_filter){BPF_ALU | BPF_AND | BPF_K, 0, 0, pd__word_mask(v4_bits, 0)};
	c[n++] = (struct sock_filter){BPF_ALU | BPF_MUL | BPF_K, 0, 0, PD__GOLDEN};
	n = pd__emit_pick(c, n, workers);
	c[jump] = (struct sock_filter){BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(n - jump - 1), 0, 6};
	/* IPv6: the source address is the four words from 8, folded in turn. */
	c[n++] = (struct sock_filter){BPF_LDX | BPF_W | BPF_IMM, 0, 0, 0};
	for (unsigned k = 0; k < 4; k++) {
		uint32_t mask = pd__word_mask(v6_bits, k);
		if (!mask)
			break;
		c[n++] = (struct sock_filter){BPF_LD | BPF_W | BPF_ABS, 0, 0,
		                              (uint32_t)(SKF_NET_OFF + 8 + 4 * (int)k)};
		c[n++] = (struct sock_filter){BPF_ALU | BPF_AND | BPF_K, 0, 0, mask};
		c[n++] = (struct sock_filter){BPF_ALU | BPF_XOR | BPF_X, 0, 0, 0};
		c[n++] = (struct sock_filter){BPF_ALU | BPF_MUL | BPF_K, 0, 0, PD__GOLDEN};
		c[n++] = (struct sock_filter){BPF_MISC | BPF_TAX, 0, 0, 0};
	}
	c[n++] = (struct sock_filter){BPF_MISC | BPF_TXA, 0, 0, 0};
	n = pd__emit_pick(c, n, workers);
	return pd__attach(fd, c, n);
}

int pd__steer(int fd, const pd_engine_conf_t *cfg, int workers, bool detach)
{
	if (cfg->steer_client)
		return pd__steer_client(fd, workers, cfg->steer_ipv4_bits, cfg->steer_ipv6_bits);
	if (cfg->reuseport_cpu)
		return pd__steer_cpu(fd, workers);
	/* Sockets handed over keep their program: one the configuration no longer asks
	 * for goes (ENOENT: there was none; older kernels cannot detach, and keep it). */
	if (detach &&
	    setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &(int){0}, sizeof(int)) < 0 &&
	    errno != ENOENT && errno != ENOPROTOOPT && errno != EINVAL)
		return -errno;
	return 0;
}
