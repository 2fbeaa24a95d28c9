/* Huge-page memory for the zone arrays and the response cache. */
#include "hugemem.h"

#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *pd__huge_alloc(size_t bytes, size_t align)
{
	if (bytes >= PD_HUGE_PAGE) {
		size_t size = (bytes + PD_HUGE_PAGE - 1) / PD_HUGE_PAGE * PD_HUGE_PAGE;
		void *p = aligned_alloc(PD_HUGE_PAGE, size);
		if (p)
			madvise(p, size, MADV_HUGEPAGE); /* a hint: fine if the kernel says no */
		return p;
	}
	if (align <= alignof(max_align_t))
		return malloc(bytes ? bytes : 1);
	/* aligned_alloc() wants a multiple of the alignment. */
	return aligned_alloc(align, (bytes + align - 1) / align * align);
}

void pd__huge_free(void *p)
{
	free(p);
}

int pd__huge_seal(void **p, size_t bytes, size_t cap_bytes)
{
	bool huge_ok = bytes < PD_HUGE_PAGE || (uintptr_t)*p % PD_HUGE_PAGE == 0;
	if (bytes == 0 || (huge_ok && cap_bytes <= bytes + bytes / 4 + 4096))
		return 0;
	void *n = pd__huge_alloc(bytes, 0);
	if (!n)
		return -ENOMEM;
	memcpy(n, *p, bytes);
	pd__huge_free(*p);
	*p = n;
	return 0;
}
