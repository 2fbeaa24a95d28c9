/* Memory for large tables read at random: on huge pages where the size allows. */
#pragma once

#include <stddef.h>

#define PD_HUGE_PAGE (2u << 20)

/*
 * Returns bytes of memory aligned to align (a power of two up to PD_HUGE_PAGE; 0 or
 * anything up to malloc()'s own alignment means malloc()'s), or NULL. From
 * PD_HUGE_PAGE bytes on, the memory is whole huge pages, asked for with madvise():
 * lookups land anywhere in a large table, and with 4 KiB pages nearly each of them
 * would also miss the TLB (a two-level page walk in a VM). Free it with pd__huge_free().
 */
void *pd__huge_alloc(size_t bytes, size_t align);

/* Frees memory from pd__huge_alloc(), or what realloc() made of it; NULL is fine. */
void pd__huge_free(void *p);

/*
 * Settles an array of bytes in use out of cap_bytes allocated: left where it is when it
 * is on huge pages (or too small for them) and not much larger than needed, otherwise
 * moved into memory of its own size from pd__huge_alloc(). Arrays that had to grow with
 * realloc() after presizing land here, and so do oversized ones. Returns 0 or -ENOMEM
 * (then *p is unchanged).
 */
int pd__huge_seal(void **p, size_t bytes, size_t cap_bytes);
