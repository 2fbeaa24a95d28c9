/* Unit tests for the configuration file and options (src/config.c). */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include "pindns/config.h"

static char *write_temp(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/pindns-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void listen_forms(void **state)
{
	pd_listen_t l;
	assert_int_equal(pd_listen_parse(&l, "127.0.0.1:5300"), 0);
	assert_int_equal(l.addr.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&l.addr)->sin_port), 5300);
	assert_string_equal(l.text, "127.0.0.1:5300");
	assert_int_equal(pd_listen_parse(&l, "[::1]:5300"), 0);
	assert_int_equal(l.addr.ss_family, AF_INET6);
	assert_string_equal(l.text, "[::1]:5300");
	assert_int_equal(pd_listen_parse(&l, "192.0.2.1"), 0);
	assert_string_equal(l.text, "192.0.2.1:53");
	assert_int_equal(pd_listen_parse(&l, "::"), 0);
	assert_string_equal(l.text, "[::]:53");
	assert_int_equal(pd_listen_parse(&l, "[::1]"), 0);
	assert_int_equal(pd_listen_parse(&l, "localhost:53"), -EINVAL);
	assert_int_equal(pd_listen_parse(&l, "127.0.0.1:0"), -EINVAL);
	assert_int_equal(pd_listen_parse(&l, "127.0.0.1:65536"), -EINVAL);
	assert_int_equal(pd_listen_parse(&l, "127.0.0.1:53x"), -EINVAL);
	assert_int_equal(pd_listen_parse(&l, "[::1]5300"), -EINVAL);
	assert_int_equal(pd_listen_parse(&l, "[::1"), -EINVAL);
}

static void defaults(void **state)
{
	pd_config_t cfg;
	pd_config_init(&cfg);
	assert_int_equal(cfg.nlisten, 2);
	assert_string_equal(cfg.listen[0].text, "0.0.0.0:53");
	assert_string_equal(cfg.listen[1].text, "[::]:53");
	assert_true(cfg.listen_is_default);
	assert_int_equal(cfg.udp_size, 1232);
	assert_int_equal(cfg.threads, 0);
	pd_config_free(&cfg);
}

static void file_sets_options(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	char *path = write_temp("# a comment\n"
	                        "listen: 127.0.0.1:5353\n"
	                        "listen [::1]:5353   # trailing comment\n"
	                        "\n"
	                        "threads: 3\n"
	                        "udp-payload-size: 4096\n"
	                        "identity: \"ns1 # not a comment\"\n"
	                        "zone: example.com example.com.zone\n"
	                        "zones-dir: /var/lib/pindns\n"
	                        "foreground: yes\n");
	assert_int_equal(pd_config_load(&cfg, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(cfg.nlisten, 2); /* the defaults were replaced, not added to */
	assert_string_equal(cfg.listen[1].text, "[::1]:5353");
	assert_int_equal(cfg.threads, 3);
	assert_int_equal(cfg.udp_size, 4096);
	assert_string_equal(cfg.identity, "ns1 # not a comment");
	assert_int_equal(cfg.nzones, 1);
	assert_string_equal(cfg.zones[0].origin, "example.com");
	assert_string_equal(cfg.zones[0].file, "/tmp/example.com.zone"); /* beside the file */
	assert_string_equal(cfg.zones_dir, "/var/lib/pindns");
	assert_true(cfg.foreground);
	pd_config_free(&cfg);
}

static void expect_load_error(const char *text, const char *needle)
{
	pd_config_t cfg;
	char err[512], want[600];
	pd_config_init(&cfg);
	char *path = write_temp(text);
	assert_int_equal(pd_config_load(&cfg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%s", path, needle);
	unlink(path);
	if (strcmp(err, want) != 0)
		fail_msg("got '%s', want '%s'", err, want);
	pd_config_free(&cfg);
}

static void file_errors_name_file_and_line(void **state)
{
	expect_load_error("threads: 2\nlisen: 1.2.3.4\n", "2: unknown option 'lisen'");
	expect_load_error("\n\nthreads: many\n",
	                  "3: threads must be a number from 1 to 1024, not 'many'");
	expect_load_error("threads: 0\n", "1: threads must be a number from 1 to 1024, not '0'");
	expect_load_error("listen: 1.2.3.4:99999\n",
	                  "1: bad listen address '1.2.3.4:99999' (want ADDR:PORT, e.g. "
	                  "127.0.0.1:5300 or [::1]:5300)");
	expect_load_error("udp-payload-size: 100\n",
	                  "1: udp-payload-size must be from 512 to 4096, not '100'");
	expect_load_error("threads\n", "1: 'threads' has no value (want 'key: value')");
	expect_load_error(
	    "zone: example.com\n",
	    "1: zone wants an origin and a file: 'zone: example.com example.com.zone'");
	expect_load_error("foreground: maybe\n", "1: foreground must be yes or no, not 'maybe'");
	expect_load_error("reuseport-cpu: 1\n", "1: reuseport-cpu must be yes or no, not '1'");
	expect_load_error("cache-size: 12X\n", "1: cache-size must be bytes with an optional K, "
	                                       "M or G, up to 64G, not '12X'");
	expect_load_error("cache-size: -1\n", "1: cache-size must be bytes with an optional K, "
	                                      "M or G, up to 64G, not '-1'");
	expect_load_error("log-level: loud\n",
	                  "1: log-level must be error, warning, info or debug, not 'loud'");
}

static void cache_size_units(void **state)
{
	pd_config_t cfg;
	char err[256];
	pd_config_init(&cfg);
	assert_int_equal(cfg.cache_size, 16u << 20);
	assert_int_equal(pd_config_set(&cfg, "cache-size", "0", err, sizeof(err)), 0);
	assert_int_equal(cfg.cache_size, 0);
	assert_int_equal(pd_config_set(&cfg, "cache-size", "64K", err, sizeof(err)), 0);
	assert_int_equal(cfg.cache_size, 65536);
	assert_int_equal(pd_config_set(&cfg, "cache-size", "2G", err, sizeof(err)), 0);
	assert_int_equal(cfg.cache_size, 2ull << 30);
	assert_int_equal(pd_config_set(&cfg, "cache-size", "65G", err, sizeof(err)), -EINVAL);
	assert_false(cfg.metrics_on);
	assert_int_equal(pd_config_set(&cfg, "metrics-listen", "on", err, sizeof(err)), 0);
	assert_true(cfg.metrics_on);
	assert_string_equal(cfg.metrics.text, "127.0.0.1:9153");
	assert_false(cfg.reuseport_cpu);
	assert_int_equal(pd_config_set(&cfg, "reuseport-cpu", "yes", err, sizeof(err)), 0);
	assert_true(cfg.reuseport_cpu);
	pd_config_free(&cfg);
}

static void missing_file(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	assert_int_equal(pd_config_load(&cfg, "/nonexistent/pindns.conf", err, sizeof(err)),
	                 -ENOENT);
	assert_string_equal(err, "/nonexistent/pindns.conf: No such file or directory");
	pd_config_free(&cfg);
}

static void tcp_limits_and_times(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	assert_int_equal(cfg.tcp.threads, 0); /* the engine's default */
	assert_int_equal(pd_config_set(&cfg, "tcp-threads", "2", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "tcp-max-clients", "300", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "tcp-max-per-client", "5", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "tcp-max-queries", "0", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "tcp-idle-timeout", "10s", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "tcp-io-timeout", "250ms", err, sizeof(err)), 0);
	assert_int_equal(cfg.tcp.threads, 2);
	assert_int_equal(cfg.tcp.max_clients, 300);
	assert_int_equal(cfg.tcp.max_per_client, 5);
	assert_int_equal(cfg.tcp.max_queries, 0);
	assert_int_equal(cfg.tcp.idle_timeout_ms, 10000);
	assert_int_equal(cfg.tcp.io_timeout_ms, 250);
	assert_int_equal(pd_config_set(&cfg, "tcp-io-timeout", "750", err, sizeof(err)), 0);
	assert_int_equal(cfg.tcp.io_timeout_ms, 750);
	assert_int_equal(pd_config_set(&cfg, "tcp-idle-timeout", "0", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tcp-idle-timeout must be a time"));
	assert_int_equal(pd_config_set(&cfg, "tcp-io-timeout", "2m", err, sizeof(err)), 0);
	assert_int_equal(cfg.tcp.io_timeout_ms, 120000);
	assert_int_equal(pd_config_set(&cfg, "tcp-io-timeout", "11m", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "tcp-io-timeout must be a time from 1ms to 10m, in ms or with "
	                         "an ms, s, m, h or d suffix, not '11m'");
	assert_int_equal(pd_config_set(&cfg, "tcp-io-timeout", "s", err, sizeof(err)), -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "tcp-io-timeout", "1x", err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg.tcp.io_timeout_ms, 120000);
	assert_int_equal(pd_config_set(&cfg, "tcp-max-per-client", "65536", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "tcp-threads", "-1", err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg.tcp.threads, 2); /* a refused value changes nothing */
	pd_config_free(&cfg);
}

static void upgrade_timeout(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	assert_int_equal(cfg.upgrade_timeout_s, 300);
	assert_int_equal(pd_config_set(&cfg, "upgrade-timeout", "90", err, sizeof(err)), 0);
	assert_int_equal(cfg.upgrade_timeout_s, 90);
	assert_int_equal(pd_config_set(&cfg, "upgrade-timeout", "10m", err, sizeof(err)), 0);
	assert_int_equal(cfg.upgrade_timeout_s, 600);
	assert_int_equal(pd_config_set(&cfg, "upgrade-timeout", "0", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "upgrade-timeout must be a time from 1s to 1d, in seconds or "
	                         "with an ms, s, m, h or d suffix, not '0'");
	assert_int_equal(pd_config_set(&cfg, "upgrade-timeout", "1500ms", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(cfg.upgrade_timeout_s, 600);
	pd_config_free(&cfg);
}

static void signature_expiry_warning(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	assert_int_equal(cfg.sig_warn_secs, 7 * 86400);
	assert_int_equal(pd_config_sources(&cfg).sig_warn_secs, 7 * 86400);
	static const struct {
		const char *text;
		uint32_t secs;
	} ok[] = {{"0", 0},      {"3600", 3600}, {"90s", 90},
	          {"30m", 1800}, {"12h", 43200}, {"14d", 14 * 86400},
	          {"2000ms", 2}, {"0d", 0},      {"3650d", 3650 * 86400}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		if (pd_config_set(&cfg, "signature-expiry-warning", ok[i].text, err, sizeof(err)) <
		    0)
			fail_msg("'%s' refused: %s", ok[i].text, err);
		assert_int_equal(cfg.sig_warn_secs, ok[i].secs);
		assert_int_equal(pd_config_sources(&cfg).sig_warn_secs, ok[i].secs);
	}
	static const char *const bad[] = {"-1",
	                                  "3651d",
	                                  "1500ms",
	                                  "7 d",
	                                  "7dd",
	                                  "d",
	                                  "1w",
	                                  "",
	                                  "7D",
	                                  "1e3",
	                                  "99999999999999999999d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (pd_config_set(&cfg, "signature-expiry-warning", bad[i], err, sizeof(err)) !=
		    -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(cfg.sig_warn_secs, 3650 * 86400); /* a refused value changes nothing */
	pd_config_free(&cfg);
	/* From a file, with the message naming the line. */
	pd_config_init(&cfg);
	char *path = write_temp("signature-expiry-warning: 2d\n");
	assert_int_equal(pd_config_load(&cfg, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(cfg.sig_warn_secs, 2 * 86400);
	pd_config_free(&cfg);
	expect_load_error("\nsignature-expiry-warning: soon\n",
	                  "2: signature-expiry-warning must be a time from 0s to 3650d, in "
	                  "seconds or with an ms, s, m, h or d suffix, not 'soon'");
}

static void nsid_text_and_hex(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	assert_int_equal(cfg.nsid_len, 0);
	assert_int_equal(pd_config_set(&cfg, "nsid", "ns1.fra", err, sizeof(err)), 0);
	assert_int_equal(cfg.nsid_len, 7);
	assert_memory_equal(cfg.nsid, "ns1.fra", 7);
	assert_int_equal(pd_config_set(&cfg, "nsid", "0x00fF10", err, sizeof(err)), 0);
	assert_int_equal(cfg.nsid_len, 3);
	assert_memory_equal(cfg.nsid, "\x00\xff\x10", 3);
	assert_int_equal(pd_config_set(&cfg, "nsid", "0x0f1", err, sizeof(err)), -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "nsid", "0xzz", err, sizeof(err)), -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "nsid", "0x", err, sizeof(err)), -EINVAL);
	char big[PD_CONFIG_NSID_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pd_config_set(&cfg, "nsid", big, err, sizeof(err)), -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "nsid", "0xabcz", err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg.nsid_len, 3);
	assert_memory_equal(cfg.nsid, "\x00\xff\x10", 3);
	pd_config_free(&cfg);
}

/* Cookies and rate limits: their options, defaults, and what rules some out together. */
static void cookies_and_rate_limits(void **state)
{
	pd_config_t cfg;
	char err[512];
	assert_int_equal(pd_config_init(&cfg), 0);
	assert_false(cfg.guard.cookie.enabled);
	assert_int_equal(cfg.guard.rrl.rate, 0);
	assert_int_equal(cfg.guard.rrl.slip, 2);
	assert_int_equal(cfg.guard.rrl.ipv4_prefix, 24);
	assert_int_equal(cfg.guard.rrl.ipv6_prefix, 56);
	assert_int_equal(cfg.guard.cookie.lifetime, 26 * 3600);
	assert_int_equal(pd_config_set(&cfg, "cookies", "yes", err, sizeof(err)), 0);
	assert_true(cfg.guard.cookie.enabled);
	assert_int_equal(pd_config_set(&cfg, "cookie-secret", "e5e973e5a6b2a43f48e7dc849e37bfcf",
	                               err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.guard.cookie.nsecrets, 1);
	assert_int_equal(cfg.guard.cookie.secret[0][0], 0xe5);
	assert_int_equal(cfg.guard.cookie.secret[0][15], 0xcf);
	assert_int_equal(pd_config_set(&cfg, "cookie-secret",
	                               "00112233445566778899aabbccddeeff "
	                               "e5e973e5a6b2a43f48e7dc849e37bfcf",
	                               err, sizeof(err)),
	                 0);
	assert_int_equal(cfg.guard.cookie.nsecrets, 2);
	assert_int_equal(cfg.guard.cookie.secret[1][0], 0xe5);
	/* Short, long, not hex, three secrets: refused, the secrets as they were. */
	const char *bad[] = {"e5e973", "e5e973e5a6b2a43f48e7dc849e37bfcf00",
	                     "zz"
	                     "e973e5a6b2a43f48e7dc849e37bfcf",
	                     "00112233445566778899aabbccddeeff 00112233445566778899aabbccddeeff "
	                     "00112233445566778899aabbccddeeff",
	                     ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(pd_config_set(&cfg, "cookie-secret", bad[i], err, sizeof(err)),
		                 -EINVAL);
		assert_non_null(strstr(err, "32 hex digits"));
	}
	assert_int_equal(cfg.guard.cookie.nsecrets, 2);
	assert_int_equal(pd_config_set(&cfg, "cookie-secret-lifetime", "1h", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "cookie-secret-lifetime", "2h", err, sizeof(err)), 0);
	assert_int_equal(cfg.guard.cookie.lifetime, 7200);
	/* Exempt prefixes: an address, a prefix, IPv6, and a mapped one taken as IPv4. */
	assert_int_equal(pd_config_set(&cfg, "rate-limit-exempt", "192.0.2.7", err, sizeof(err)),
	                 0);
	assert_int_equal(pd_config_set(&cfg, "rate-limit-exempt", "10.0.0.0/8", err, sizeof(err)),
	                 0);
	assert_int_equal(
	    pd_config_set(&cfg, "rate-limit-exempt", "2001:db8::/32", err, sizeof(err)), 0);
	assert_int_equal(
	    pd_config_set(&cfg, "rate-limit-exempt", "::ffff:198.51.100.0/120", err, sizeof(err)),
	    0);
	assert_int_equal(cfg.guard.rrl.nexempt, 4);
	assert_int_equal(cfg.guard.rrl.exempt[0].bits, 32);
	assert_int_equal(cfg.guard.rrl.exempt[1].bits, 8);
	assert_int_equal(cfg.guard.rrl.exempt[2].family, 6);
	assert_int_equal(cfg.guard.rrl.exempt[3].family, 4);
	assert_int_equal(cfg.guard.rrl.exempt[3].bits, 24);
	uint8_t in_mapped[4] = {198, 51, 100, 9};
	assert_true(pd_rrl_exempt(&cfg.guard.rrl, 4, in_mapped));
	const char *bad_prefix[] = {"192.0.2.0/33", "192.0.2.0/",     "192.0.2.0/ 8",
	                            "192.0.2.0/+8", "2001:db8::/129", "host.example",
	                            "192.0.2.0/8x"};
	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(*bad_prefix); i++)
		assert_int_equal(
		    pd_config_set(&cfg, "rate-limit-exempt", bad_prefix[i], err, sizeof(err)),
		    -EINVAL);
	assert_int_equal(cfg.guard.rrl.nexempt, 4);
	assert_int_equal(pd_config_set(&cfg, "rate-limit", "20", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "rate-limit-window", "5s", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "rate-limit-slip", "11", err, sizeof(err)), -EINVAL);
	assert_int_equal(pd_config_set(&cfg, "rate-limit-ipv4-prefix", "33", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), 0);
	/* What no single option says: rate x window in range, CPU steering apart, require
	 * needing cookies. */
	assert_int_equal(pd_config_set(&cfg, "rate-limit", "1000000", err, sizeof(err)), 0);
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rate-limit x rate-limit-window"));
	assert_int_equal(pd_config_set(&cfg, "rate-limit", "20", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "reuseport-cpu", "yes", err, sizeof(err)), 0);
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "reuseport-cpu"));
	assert_int_equal(pd_config_set(&cfg, "reuseport-cpu", "no", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "cookies", "no", err, sizeof(err)), 0);
	assert_int_equal(pd_config_set(&cfg, "cookie-require", "yes", err, sizeof(err)), 0);
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cookies: yes"));
	pd_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(listen_forms),
	    cmocka_unit_test(defaults),
	    cmocka_unit_test(file_sets_options),
	    cmocka_unit_test(file_errors_name_file_and_line),
	    cmocka_unit_test(cache_size_units),
	    cmocka_unit_test(missing_file),
	    cmocka_unit_test(tcp_limits_and_times),
	    cmocka_unit_test(nsid_text_and_hex),
	    cmocka_unit_test(signature_expiry_warning),
	    cmocka_unit_test(upgrade_timeout),
	    cmocka_unit_test(cookies_and_rate_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
