/* Statistics counters: each has one writer thread, and any thread may read it meanwhile. */
#pragma once

#include <stdatomic.h>
#include <stdint.h>

/**
 * A counter bumped by its one writer while other threads (control, metrics) read it.
 * Atomic so that those reads are not a data race; relaxed, because a reader wants a
 * recent value, not an ordering with anything else the writer did.
 */
typedef _Atomic uint64_t pd_counter_t;

/*
 * Counters live in shared memory handed to a successor: same size as a uint64_t. Not the
 * same alignment, which differs on 32-bit x86 (8 for the atomic, 4 for uint64_t there):
 * the offset asserts in stats.h guard the layout itself.
 */
_Static_assert(sizeof(pd_counter_t) == sizeof(uint64_t), "pd_counter_t is a plain uint64_t");

/** Adds n to c. Only c's one writer may call this. */
static inline void pd_counter_add(pd_counter_t *c, uint64_t n)
{
	/* A load and a store, not atomic_fetch_add: with one writer no update can be lost,
	 * and on x86 this is a plain add where fetch_add would be a locked one. */
	uint64_t v = atomic_load_explicit(c, memory_order_relaxed);
	atomic_store_explicit(c, v + n, memory_order_relaxed);
}

/** The value of c; any thread may call this. */
static inline uint64_t pd_counter_get(const pd_counter_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/** Sets c to v. Only c's one writer may call this. */
static inline void pd_counter_set(pd_counter_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}
