/* The TCP threads' pools: connection slots, their timeout lists, output blocks, clients. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tcp_int.h"

/* An anonymous mapping whose pages are only backed once touched; NULL on failure. */
static void *pd__region(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int pd__pools_new(pd__tcp_thread_t *th, uint32_t nconns)
{
	th->conns = calloc(nconns, sizeof(*th->conns));
	if (!th->conns)
		return -ENOMEM;
	/* Free slots first, so that whatever fails below leaves nothing that looks open. */
	th->nconns = nconns;
	for (uint32_t i = 0; i < nconns; i++) {
		th->conns[i].fd = -1;
		th->conns[i].list = PD__LIST_NONE;
		th->conns[i].out_head = th->conns[i].out_tail = PD__NONE;
		th->conns[i].next = i + 1 < nconns ? i + 1 : PD__NONE;
	}
	th->free_conn = 0;
	th->lists[0].head = th->lists[0].tail = PD__NONE;
	th->lists[1].head = th->lists[1].tail = PD__NONE;
	/* Every connection's most at once: only address space until touched. */
	th->nblocks = PD__TCP_POOL_BLOCKS * nconns;
	th->in_region_len = (size_t)nconns * PD__TCP_IN_CAP;
	th->in_region = pd__region(th->in_region_len);
	th->blocks = pd__region((size_t)th->nblocks * PD__TCP_BLOCK);
	th->block_next = calloc(th->nblocks, sizeof(*th->block_next));
	th->block_len = calloc(th->nblocks, sizeof(*th->block_len));
	th->scratch = pd__region((size_t)PD_BATCH * PD__TCP_SLOT);
	if (!th->in_region || !th->blocks || !th->block_next || !th->block_len || !th->scratch)
		return -ENOMEM;
	for (uint32_t i = 0; i < nconns; i++)
		th->conns[i].in = th->in_region + (size_t)i * PD__TCP_IN_CAP;
	for (uint32_t b = 0; b < th->nblocks; b++)
		th->block_next[b] = b + 1 < th->nblocks ? b + 1 : PD__NONE;
	th->free_block = 0;
	th->free_blocks = th->nblocks;
	return 0;
}

void pd__pools_free(pd__tcp_thread_t *th)
{
	free(th->conns);
	if (th->in_region)
		munmap(th->in_region, th->in_region_len);
	if (th->blocks)
		munmap(th->blocks, (size_t)th->nblocks * PD__TCP_BLOCK);
	if (th->scratch)
		munmap(th->scratch, (size_t)PD_BATCH * PD__TCP_SLOT);
	free(th->block_next);
	free(th->block_len);
	th->conns = NULL;
	th->nconns = 0;
	th->in_region = th->scratch = NULL;
	th->blocks = NULL;
	th->block_next = th->block_len = NULL;
}

pd__conn_t *pd__slot_get(pd__tcp_thread_t *th)
{
	if (th->free_conn == PD__NONE)
		return NULL;
	pd__conn_t *c = &th->conns[th->free_conn];
	th->free_conn = c->next;
	return c;
}

void pd__slot_put(pd__tcp_thread_t *th, pd__conn_t *c)
{
	c->fd = -1;
	c->next = th->free_conn;
	th->free_conn = (uint32_t)(c - th->conns);
}

void pd__list_remove(pd__tcp_thread_t *th, pd__conn_t *c)
{
	if (c->list == PD__LIST_NONE)
		return;
	if (c->prev != PD__NONE)
		th->conns[c->prev].next = c->next;
	else
		th->lists[c->list].head = c->next;
	if (c->next != PD__NONE)
		th->conns[c->next].prev = c->prev;
	else
		th->lists[c->list].tail = c->prev;
	c->list = PD__LIST_NONE;
}

void pd__list_append(pd__tcp_thread_t *th, pd__conn_t *c, uint8_t list, int64_t now)
{
	uint32_t idx = (uint32_t)(c - th->conns);
	pd__list_remove(th, c);
	c->list = list;
	c->since_ms = now;
	c->next = PD__NONE;
	c->prev = th->lists[list].tail;
	if (c->prev != PD__NONE)
		th->conns[c->prev].next = idx;
	else
		th->lists[list].head = idx;
	th->lists[list].tail = idx;
}

static uint32_t pd__block_get(pd__tcp_thread_t *th)
{
	uint32_t b = th->free_block;
	if (b == PD__NONE)
		return PD__NONE;
	th->free_block = th->block_next[b];
	th->free_blocks--;
	th->block_next[b] = PD__NONE;
	th->block_len[b] = 0;
	return b;
}

static void pd__block_put(pd__tcp_thread_t *th, uint32_t b)
{
	th->block_next[b] = th->free_block;
	th->free_block = b;
	th->free_blocks++;
}

/* Blocks appending len bytes to c would take. */
static uint32_t pd__blocks_needed(const pd__tcp_thread_t *th, const pd__conn_t *c, size_t len)
{
	size_t room = c->out_tail == PD__NONE ? 0 : PD__TCP_BLOCK - th->block_len[c->out_tail];
	return len <= room ? 0 : (uint32_t)((len - room + PD__TCP_BLOCK - 1) / PD__TCP_BLOCK);
}

bool pd__out_append(pd__tcp_thread_t *th, pd__conn_t *c, const uint8_t *p, size_t len, bool cap)
{
	uint32_t need = pd__blocks_needed(th, c, len);
	if (need > th->free_blocks || (cap && c->out_blocks + need > PD__TCP_CONN_BLOCKS))
		return false;
	while (len > 0) {
		uint32_t t = c->out_tail;
		if (t == PD__NONE || th->block_len[t] == PD__TCP_BLOCK) {
			uint32_t b = pd__block_get(th);
			if (b == PD__NONE)
				return false;
			if (t != PD__NONE)
				th->block_next[t] = b;
			else
				c->out_head = b;
			c->out_tail = t = b;
			c->out_blocks++;
		}
		size_t n = PD__TCP_BLOCK - th->block_len[t];
		if (n > len)
			n = len;
		memcpy(th->blocks[t] + th->block_len[t], p, n);
		th->block_len[t] += (uint32_t)n;
		p += n;
		len -= n;
	}
	return true;
}

void pd__out_free(pd__tcp_thread_t *th, pd__conn_t *c)
{
	for (uint32_t b = c->out_head; b != PD__NONE;) {
		uint32_t next = th->block_next[b];
		pd__block_put(th, b);
		b = next;
	}
	c->out_head = c->out_tail = PD__NONE;
	c->out_off = 0;
	c->out_blocks = 0;
}

int pd__out_iov(const pd__tcp_thread_t *th, const pd__conn_t *c, struct iovec *iov, int cap)
{
	int n = 0;
	size_t off = c->out_off;
	for (uint32_t b = c->out_head; b != PD__NONE && n < cap; b = th->block_next[b]) {
		iov[n].iov_base = th->blocks[b] + off;
		iov[n].iov_len = th->block_len[b] - off;
		off = 0;
		n++;
	}
	return n;
}

void pd__out_consume(pd__tcp_thread_t *th, pd__conn_t *c, size_t n)
{
	while (n > 0 && c->out_head != PD__NONE) {
		uint32_t b = c->out_head;
		size_t left = th->block_len[b] - c->out_off;
		if (n < left) {
			c->out_off += (uint32_t)n;
			return;
		}
		n -= left;
		c->out_head = th->block_next[b];
		c->out_off = 0;
		c->out_blocks--;
		pd__block_put(th, b);
		if (c->out_head == PD__NONE)
			c->out_tail = PD__NONE;
	}
}

uint32_t pd__client_slot(const pd_engine_t *e, const struct sockaddr_storage *ss)
{
	/* Keyed per process: without the seed, an attacker could pick an address that
	 * shares a slot with a resolver's and use up that resolver's connections. */
	uint64_t h = e->client_seed;
	const uint8_t *p;
	size_t n;
	if (ss->ss_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		n = 16;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
	}
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
		h ^= h >> 29; /* FNV alone leaves a last byte only in low and top bits */
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)(h % PD__CLIENT_SLOTS);
}

bool pd__client_enter(pd_engine_t *e, uint32_t slot, bool force)
{
	uint32_t n = atomic_fetch_add_explicit(&e->clients[slot], 1, memory_order_relaxed);
	if (force || n < (uint32_t)e->tcp_conf.max_per_client)
		return true;
	atomic_fetch_sub_explicit(&e->clients[slot], 1, memory_order_relaxed);
	return false;
}

void pd__client_leave(pd_engine_t *e, uint32_t slot)
{
	atomic_fetch_sub_explicit(&e->clients[slot], 1, memory_order_relaxed);
}
