/* Zone transfers in the daemon: their threads set up, and zones xfrd brings published. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pindns/log.h"
#include "pindns/name.h"
#include "transfers.h"

static bool pd__wants_xfrd(const pd_xfr_conf_t *x)
{
	return x->nsecondaries || x->nnotify;
}

static bool pd__wants_serve(const pd_xfr_conf_t *x)
{
	return x->nsecondaries || x->nprovide;
}

/* pd_xfrd_hooks_t.publish, on the xfrd thread: hands the zone to the main thread and
 * waits for it to be published (or refused). */
static int pd__publish_hook(void *arg, pd_zone_t *z, const uint8_t *remove_origin)
{
	pd_transfers_t *t = arg;
	pthread_mutex_lock(&t->lock);
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		pd_zone_free(z);
		return -ECANCELED;
	}
	t->zone = z;
	if (remove_origin)
		memcpy(t->remove, remove_origin, pd_name_len(remove_origin));
	else
		t->remove[0] = 0xff; /* no origin: not a name */
	t->pending = true;
	t->finished = false;
	uint64_t one = 1;
	if (write(t->event_fd, &one, sizeof(one)) < 0)
		pd_log(PD_LOG_WARN, "xfr: cannot wake the main thread: %s", strerror(errno));
	while (!t->finished && !t->stopping)
		pthread_cond_wait(&t->cond, &t->lock);
	int ret = t->finished ? t->result : -ECANCELED;
	if (!t->finished) /* stopping: the main thread will not take it */
		pd_zone_free(t->zone);
	t->pending = false;
	t->zone = NULL;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int pd_transfers_new(pd_transfers_t *t, const pd_config_t *cfg, pd_engine_t *engine,
                     pd_zoneset_t **zones)
{
	char err[512] = "";
	memset(t, 0, sizeof(*t));
	t->cfg = cfg;
	t->engine = engine;
	t->zones = zones;
	t->event_fd = -1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	const pd_xfr_conf_t *x = &cfg->xfr;
	int ret = 0;
	if (x->nsecondaries && faccessat(AT_FDCWD, x->state_dir, W_OK | X_OK, AT_EACCESS) < 0) {
		ret = -errno;
		snprintf(err, sizeof(err),
		         "the state-dir %s, where transferred zones are kept, is not writable by "
		         "uid %u (%s): the service user must own it",
		         x->state_dir, (unsigned)geteuid(), strerror(-ret));
		goto fail;
	}
	if (pd__wants_xfrd(x)) {
		t->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->event_fd < 0) {
			ret = -errno;
			snprintf(err, sizeof(err), "eventfd: %s", strerror(-ret));
			goto fail;
		}
		pd_xfrd_hooks_t hooks = {.publish = pd__publish_hook, .arg = t};
		if ((ret = pd_xfrd_new(&t->xfrd, x, *zones, &hooks, &t->stats, err, sizeof(err))) <
		    0)
			goto fail;
	}
	if (pd__wants_serve(x) &&
	    (ret = pd_xfr_serve_new(&t->serve, x, t->xfrd, &t->stats, err, sizeof(err))) < 0)
		goto fail;
	return 0;
fail:
	pd_log(PD_LOG_ERR, "cannot set up zone transfers: %s", err);
	return ret;
}

void pd_transfers_attach(pd_transfers_t *t, pd_answer_conf_t *conf)
{
	if (!t->serve)
		return;
	pd_xfr_serve_set_answer(t->serve, conf);
	pd_xfr_serve_set_engine(t->serve, t->engine);
	conf->special = pd_xfr_serve_special;
	conf->special_arg = t->serve;
	pd_engine_set_take(t->engine, pd_xfr_serve_take, t->serve);
}

int pd_transfers_start(pd_transfers_t *t)
{
	return t->xfrd ? pd_xfrd_start(t->xfrd) : 0;
}

void pd_transfers_publish(pd_transfers_t *t, pd_zoneset_t *next)
{
	pd_zoneset_t *old = pd_engine_publish(t->engine, next);
	if (t->serve)
		pd_xfr_serve_published(t->serve, old, next);
	if (t->xfrd)
		pd_xfrd_published(t->xfrd, old, next);
	pd_zoneset_release(old, next);
	*t->zones = next;
}

/* The set with xfrd's change in it: a zone put in, or one taken out. */
static int pd__apply(pd_transfers_t *t, pd_zoneset_t **next)
{
	if (t->zone) {
		/* RFC 9432 5.4: a catalog's member that clashes with a zone served from its
		 * file is ignored; decided here, on the set being served, so no reload races. */
		const pd_zone_t *was = pd_zoneset_get(*t->zones, t->zone->origin);
		if (was && was->from != PD_ZONE_FROM_XFR)
			return -EEXIST;
		return pd_zoneset_replace(*t->zones, &t->zone, 1, next);
	}
	const uint8_t *origin = t->remove;
	return pd_zoneset_remove(*t->zones, &origin, 1, next);
}

void pd_transfers_on_event(pd_transfers_t *t)
{
	uint64_t n;
	if (read(t->event_fd, &n, sizeof(n)) < 0)
		return; /* nothing (EAGAIN) */
	pthread_mutex_lock(&t->lock);
	if (t->pending && !t->finished) {
		pd_zoneset_t *next = NULL;
		t->result = pd__apply(t, &next);
		if (t->result == 0)
			pd_transfers_publish(t, next);
		else
			pd_zone_free(t->zone); /* the old version serves on */
		t->finished = true;
		pthread_cond_signal(&t->cond);
	}
	pthread_mutex_unlock(&t->lock);
}

int pd_transfers_command(void *arg, const char *cmd, const char *zone, char *buf, size_t cap)
{
	pd_transfers_t *t = arg;
	if (!t->xfrd) {
		snprintf(buf, cap,
		         "no zone transfers are configured (no secondary, catalog or "
		         "notify entries): every zone is loaded from its file");
		return -ENOENT;
	}
	uint8_t wire[PD_NAME_MAX];
	const pd_zone_t *z = NULL;
	if (zone && pd_name_from_str(wire, zone) > 0) {
		pd_name_lower(wire, wire);
		z = pd_zoneset_get(*t->zones, wire); /* the main thread's own: no lock */
	}
	/* zone-notify sends the SOA of the version served, which only this thread has for a
	 * zone served from its file. */
	if (zone && !strcmp(cmd, "zone-notify")) {
		if (z)
			return pd_xfrd_notify_now(t->xfrd, z, zone, buf, cap);
		snprintf(buf, cap, "no zone %s is served here (yet): nothing to notify of", zone);
		return -ENOENT;
	}
	int ret = pd_xfrd_command(t->xfrd, cmd, zone, buf, cap);
	bool refresh = !strcmp(cmd, "zone-refresh") || !strcmp(cmd, "zone-retransfer");
	if (ret < 0 && z && refresh && z->from == PD_ZONE_FROM_FILE)
		snprintf(buf, cap,
		         "zone %s is served from its file here, not a secondary: nothing to "
		         "refresh (pindnsctl reload %s reads its file)",
		         zone, zone);
	return ret;
}

void pd_transfers_free(pd_transfers_t *t)
{
	if (!t->cfg)
		return; /* never made */
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (t->xfrd)
		pd_xfrd_free(t->xfrd);
	if (t->serve)
		pd_xfr_serve_free(t->serve);
	t->xfrd = NULL;
	t->serve = NULL;
	if (t->event_fd >= 0)
		close(t->event_fd);
	t->event_fd = -1;
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	t->cfg = NULL;
}
