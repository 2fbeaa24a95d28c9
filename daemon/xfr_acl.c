/* Lookups in the transfer configuration: keys by name, access lists, secondaries. */
#include <netinet/in.h>
#include <string.h>

#include "pindns/xfrconf.h"

const pd_tsig_key_t *pd_xfr_key_find(const pd_xfr_conf_t *x, const char *name)
{
	uint8_t wire[PD_NAME_MAX];
	if (pd_name_from_str(wire, name) < 0)
		return NULL;
	pd_name_lower(wire, wire);
	for (size_t i = 0; i < x->nkeys; i++)
		if (pd_name_equal(x->keys[i].name, wire))
			return &x->keys[i];
	return NULL;
}

/*
 * The family and address bytes of addr, an IPv4-mapped IPv6 address taken as the IPv4
 * one (a dual-stack socket shows IPv4 clients so). Returns the bytes, or NULL for a
 * family no rule can name.
 */
static const uint8_t *pd__acl_addr(const struct sockaddr *addr, int *family)
{
	if (addr->sa_family == AF_INET) {
		*family = AF_INET;
		return (const uint8_t *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
	}
	if (addr->sa_family != AF_INET6)
		return NULL;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		*family = AF_INET;
		return a6->s6_addr + 12;
	}
	*family = AF_INET6;
	return a6->s6_addr;
}

/* Whether the first bits of a equal those of the rule's address. */
static bool pd__prefix_matches(const pd_xfr_rule_t *r, const uint8_t *a)
{
	unsigned bytes = r->prefix / 8u, bits = r->prefix % 8u;
	if (memcmp(r->addr, a, bytes) != 0)
		return false;
	if (!bits)
		return true;
	uint8_t mask = (uint8_t)(0xFFu << (8u - bits));
	return ((r->addr[bytes] ^ a[bytes]) & mask) == 0;
}

bool pd_xfr_acl_allows(const pd_xfr_acl_t *acl, const struct sockaddr *addr,
                       const pd_tsig_key_t *key)
{
	int family;
	const uint8_t *a = pd__acl_addr(addr, &family);
	if (!a)
		return false;
	for (size_t i = 0; i < acl->n; i++) {
		const pd_xfr_rule_t *r = &acl->rules[i];
		unsigned max = family == AF_INET ? 32u : 128u;
		if (r->family != family || r->prefix > max || !pd__prefix_matches(r, a))
			continue;
		if (!r->key || r->key == key)
			return true;
		/* The same key held twice (a copy of the configuration) is still the key. */
		if (key && r->key->alg == key->alg && pd_name_equal(r->key->name, key->name) &&
		    r->key->secret_len == key->secret_len &&
		    memcmp(r->key->secret, key->secret, key->secret_len) == 0)
			return true;
	}
	return false;
}

const pd_xfr_secondary_t *pd_xfr_secondary_find(const pd_xfr_conf_t *x, const uint8_t *origin)
{
	for (size_t i = 0; i < x->nsecondaries; i++)
		if (pd_name_equal(x->secondaries[i].wire, origin))
			return &x->secondaries[i];
	return NULL;
}
