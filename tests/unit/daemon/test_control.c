/* Unit tests for the control socket's zone transfer commands (daemon/control.c). */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pindns/control.h"
#include "pindns/ctlproto.h"
#include "pindns/stats.h"
#include "pindns/zoneset.h"

static pd_zoneset_t *served;
static pd_control_t ctl;

/* What the fake transfer side was asked, and what it answers. */
static struct {
	int calls;
	char cmd[64], zone[256];
	bool zone_null;
	int ret;          /* what it returns */
	const char *text; /* what it writes */
} fake;

static int fake_xfr(void *arg, const char *cmd, const char *zone, char *buf, size_t cap)
{
	assert_ptr_equal(arg, &fake);
	fake.calls++;
	snprintf(fake.cmd, sizeof(fake.cmd), "%s", cmd);
	snprintf(fake.zone, sizeof(fake.zone), "%s", zone ? zone : "");
	fake.zone_null = zone == NULL;
	snprintf(buf, cap, "%s", fake.text);
	return fake.ret;
}

/* The reply pd_control_serve() gives to command (a static buffer). */
static const char *ask(const char *command)
{
	static char reply[8192];
	int sv[2];
	size_t n = 0;
	ssize_t k;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], command, strlen(command)), (ssize_t)strlen(command));
	assert_int_equal(write(sv[0], "\n", 1), 1);
	shutdown(sv[0], SHUT_WR);
	pd_control_serve(sv[1], &ctl); /* closes sv[1]; the replies fit the socket's buffer */
	while ((k = read(sv[0], reply + n, sizeof(reply) - 1 - n)) > 0)
		n += (size_t)k;
	reply[n] = '\0';
	close(sv[0]);
	return reply;
}

static void expect(const char *command, const char *want)
{
	const char *got = ask(command);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got '%s', want '%s'", command, got, want);
}

static int setup(void **state)
{
	uint8_t origin[PD_NAME_MAX];
	pd_zone_t *z = NULL;
	int fd;
	tu_name(origin, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(origin);
	tu_add_soa(b, "example.com", 300, 2026120201, 60);
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns1.example.com");
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	assert_int_equal(pd_zoneset_new(&served, &z, 1), 0);
	memset(&ctl, 0, sizeof(ctl));
	ctl.zones = &served;
	ctl.stats = pd_stats_new(1, 1, &fd);
	assert_non_null(ctl.stats);
	close(fd);
	memset(&fake, 0, sizeof(fake));
	return 0;
}

static int teardown(void **state)
{
	pd_zoneset_free(served);
	pd_stats_unmap((pd_stats_t *)ctl.stats);
	return 0;
}

/* With no transfer side: every zone is a primary from its file. */
static void without_transfers(void **state)
{
	expect("zone-status", "no secondary, catalog or notify target is configured: every zone "
	                      "is a primary loaded from its file (zone-list lists them)\nOK\n");
	expect("zone-status EXAMPLE.com.",
	       "example.com. role primary (zone file) serial 2026120201 notify none\nOK\n");
	expect("zone-status nothere.test", "ERROR no zone nothere.test here\n");
	expect("zone-refresh example.com", "ERROR example.com is a primary loaded from its file, "
	                                   "not a secondary: reload reads the file again\n");
	expect("zone-retransfer example.com",
	       "ERROR example.com is a primary loaded from its "
	       "file, not a secondary: reload reads the file again\n");
	expect("zone-notify example.com",
	       "ERROR example.com has no notify target (no notify: is configured)\n");
	expect("zone-refresh", "ERROR zone-refresh wants a zone: 'zone-refresh example.com'\n");
	expect("zone-notify ", "ERROR zone-notify wants a zone: 'zone-notify example.com'\n");
	expect("zone-status a..b", "ERROR 'a..b' is not a domain name\n");
}

/* With one: its answer, its reason, and the file zones it does not know. */
static void with_transfers(void **state)
{
	ctl.xfr = fake_xfr;
	ctl.xfr_arg = &fake;
	fake.text = "example.net. role secondary serial 7\nexample.org. role secondary serial 9\n";
	expect("zone-status",
	       "example.net. role secondary serial 7\nexample.org. role secondary serial 9\nOK\n");
	assert_int_equal(fake.calls, 1);
	assert_string_equal(fake.cmd, PD_CTL_ZONE_STATUS);
	assert_true(fake.zone_null);
	fake.text = "refresh of example.net. queued"; /* no last newline: one is added */
	expect("zone-refresh Example.NET", "refresh of example.net. queued\nOK\n");
	assert_string_equal(fake.cmd, PD_CTL_ZONE_REFRESH);
	assert_string_equal(fake.zone, "Example.NET");
	fake.text = "";
	expect("zone-retransfer example.net", "OK\n");
	assert_string_equal(fake.cmd, PD_CTL_ZONE_RETRANSFER);
	/* A failure's reason is the ERROR line: its first line only. */
	fake.ret = -EINVAL;
	fake.text = "example.com. is not a secondary\nsecond line";
	expect("zone-retransfer example.com", "ERROR example.com. is not a secondary\n");
	fake.text = "";
	expect("zone-notify example.com", "ERROR Invalid argument\n");
	assert_string_equal(fake.cmd, PD_CTL_ZONE_NOTIFY);
	/* A zone the transfer side does not know, served from its file. */
	fake.ret = -ENOENT;
	fake.text = "no zone example.com here";
	expect("zone-status example.com",
	       "example.com. role primary (zone file) serial 2026120201 notify none\nOK\n");
	expect("zone-status nothere.test", "ERROR no zone example.com here\n");
	expect("zone-refresh example.com", "ERROR no zone example.com here\n");
	int calls = fake.calls;
	expect("zone-refresh", "ERROR zone-refresh wants a zone: 'zone-refresh example.com'\n");
	expect("zone-status a..b", "ERROR 'a..b' is not a domain name\n");
	assert_int_equal(fake.calls, calls); /* neither reached it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(without_transfers, setup, teardown),
	    cmocka_unit_test_setup_teardown(with_transfers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
