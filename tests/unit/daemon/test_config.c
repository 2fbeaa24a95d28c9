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
	/* dig's ADDR#PORT would be cut to ADDR (port 53) by the comment: refused instead. */
	expect_load_error("listen: 127.0.0.1#5300\n",
	                  "1: a '#' starts a comment only at the start of a line or after a space; "
	                  "write a port as ADDR:PORT or [ADDR]:PORT, or quote a value holding '#'");
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

#define SECRET "c2VjcmV0IGtleSBvZiAzMiBieXRlcyBmb3IgaG1hYw=="

/* Sets key to value, which must succeed. */
static void set_ok(pd_config_t *cfg, const char *key, const char *value)
{
	char err[512] = "";
	int ret = pd_config_set(cfg, key, value, err, sizeof(err));
	if (ret != 0)
		fail_msg("%s: %s gave %d: %s", key, value, ret, err);
}

/* Sets key to value, which must fail with exactly want as the message. */
static void set_fails(pd_config_t *cfg, const char *key, const char *value, const char *want)
{
	char err[512] = "";
	assert_int_equal(pd_config_set(cfg, key, value, err, sizeof(err)), -EINVAL);
	if (strcmp(err, want) != 0)
		fail_msg("%s: %s: got '%s', want '%s'", key, value, err, want);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
	                                : ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void xfr_defaults(void **state)
{
	pd_config_t cfg;
	assert_int_equal(pd_config_init(&cfg), 0);
	assert_int_equal(cfg.xfr.nkeys, 0);
	assert_int_equal(cfg.xfr.nsecondaries, 0);
	assert_int_equal(cfg.xfr.nprovide, 0); /* nobody may transfer */
	assert_int_equal(cfg.xfr.nnotify, 0);
	assert_int_equal(cfg.xfr.max_size, 1ull << 30);
	assert_int_equal(cfg.xfr.journal_size, 4u << 20);
	assert_int_equal(cfg.xfr.timeout_ms, 10000);
	/* The build's (the build folder's state/, or the package's /var/lib/pindns/state). */
	assert_non_null(cfg.xfr.state_dir);
	assert_int_equal(cfg.xfr.state_dir[0], '/');
	pd_config_free(&cfg);
}

static void tsig_keys(void **state)
{
	pd_config_t cfg;
	pd_config_init(&cfg);
	set_ok(&cfg, "tsig-key", "Xfr.Key. hmac-sha256 " SECRET);
	set_ok(&cfg, "tsig-key", "other  HMAC-SHA512  " SECRET);
	assert_int_equal(cfg.xfr.nkeys, 2);
	assert_int_equal(cfg.xfr.keys[0].alg, PD_TSIG_HMAC_SHA256);
	assert_int_equal(cfg.xfr.keys[0].name_len, 9);
	assert_memory_equal(cfg.xfr.keys[0].name, "\3xfr\3key", 9); /* lower-cased */
	assert_int_equal(cfg.xfr.keys[0].secret_len, 31);
	assert_int_equal(cfg.xfr.keys[1].alg, PD_TSIG_HMAC_SHA512);
	set_fails(&cfg, "tsig-key", "xfr.key hmac-sha256 " SECRET,
	          "tsig-key xfr.key is defined twice");
	const char *usage = "tsig-key wants a name, an algorithm and a base64 secret: 'tsig-key: "
	                    "xfr.key hmac-sha256 c2VjcmV0IGtleSBvZiAzMiBieXRlcyBmb3IgaG1hYw=='";
	set_fails(&cfg, "tsig-key", "k hmac-sha256", usage);
	set_fails(&cfg, "tsig-key", "k hmac-sha256 " SECRET " extra", usage);
	char err[512];
	/* The key's own parser says what is wrong with it; the line says which key. */
	assert_int_equal(pd_config_set(&cfg, "tsig-key", "k hmac-md5 " SECRET, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "tsig-key k: "));
	assert_non_null(strstr(err, "hmac-md5"));
	assert_int_equal(pd_config_set(&cfg, "tsig-key", "k hmac-sha256 !!!", err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "tsig-key k: "));
	assert_int_equal(cfg.xfr.nkeys, 2);
	pd_config_free(&cfg);
}

static void secondaries(void **state)
{
	pd_config_t cfg;
	pd_config_init(&cfg);
	set_ok(&cfg, "tsig-key", "xfr.key hmac-sha256 " SECRET);
	set_ok(&cfg, "secondary", "Example.COM 192.0.2.1 [2001:db8::1]:5300 key xfr.key");
	set_ok(&cfg, "secondary", "example.net 127.0.0.1:5300 notify-from 10.0.0.0/8 192.0.2.9");
	set_ok(&cfg, "catalog", "catalog.invalid 192.0.2.1 key XFR.KEY.");
	assert_int_equal(cfg.xfr.nsecondaries, 3);
	const pd_xfr_secondary_t *s = &cfg.xfr.secondaries[0];
	assert_string_equal(s->origin, "Example.COM");
	assert_memory_equal(s->wire, "\7example\3com", 13);
	assert_false(s->catalog);
	assert_int_equal(s->nprimaries, 2);
	assert_int_equal(s->primaries[0].addr.ss_family, AF_INET);
	assert_int_equal(port_of(&s->primaries[0].addr), 53);
	assert_int_equal(s->primaries[0].addr_len, sizeof(struct sockaddr_in));
	assert_int_equal(s->primaries[1].addr.ss_family, AF_INET6);
	assert_int_equal(port_of(&s->primaries[1].addr), 5300);
	assert_ptr_equal(s->primaries[0].key, &cfg.xfr.keys[0]);
	assert_ptr_equal(s->primaries[1].key, &cfg.xfr.keys[0]);
	/* NOTIFY by default from the primaries' addresses, signed with their key. */
	assert_int_equal(s->notify_from.n, 2);
	assert_int_equal(s->notify_from.rules[0].family, AF_INET);
	assert_int_equal(s->notify_from.rules[0].prefix, 32);
	assert_memory_equal(s->notify_from.rules[0].addr, "\xc0\x00\x02\x01", 4);
	assert_int_equal(s->notify_from.rules[1].family, AF_INET6);
	assert_int_equal(s->notify_from.rules[1].prefix, 128);
	assert_ptr_equal(s->notify_from.rules[1].key, &cfg.xfr.keys[0]);
	s = &cfg.xfr.secondaries[1];
	assert_null(s->primaries[0].key);
	assert_int_equal(port_of(&s->primaries[0].addr), 5300);
	/* notify-from replaces the primaries as who may notify. */
	assert_int_equal(s->notify_from.n, 2);
	assert_int_equal(s->notify_from.rules[0].prefix, 8);
	assert_memory_equal(s->notify_from.rules[0].addr, "\x0a\0\0\0", 4);
	assert_int_equal(s->notify_from.rules[1].prefix, 32);
	assert_null(s->notify_from.rules[1].key);
	s = &cfg.xfr.secondaries[2];
	assert_true(s->catalog);
	assert_ptr_equal(s->primaries[0].key, &cfg.xfr.keys[0]);
	/* A new key moves the array: what pointed into it follows. */
	set_ok(&cfg, "tsig-key", "second hmac-sha1 " SECRET);
	set_ok(&cfg, "tsig-key", "third hmac-sha384 " SECRET);
	assert_ptr_equal(cfg.xfr.secondaries[0].primaries[1].key, &cfg.xfr.keys[0]);
	assert_ptr_equal(cfg.xfr.secondaries[0].notify_from.rules[0].key, &cfg.xfr.keys[0]);
	assert_ptr_equal(cfg.xfr.secondaries[2].primaries[0].key, &cfg.xfr.keys[0]);
	set_ok(&cfg, "secondary", "example.org 192.0.2.1 key third notify-from 192.0.2.0/24");
	assert_ptr_equal(cfg.xfr.secondaries[3].primaries[0].key, &cfg.xfr.keys[2]);
	assert_ptr_equal(cfg.xfr.secondaries[3].notify_from.rules[0].key, &cfg.xfr.keys[2]);
	/* A mapped primary is notified from as the IPv4 address it is. */
	set_ok(&cfg, "secondary", "mapped.example [::ffff:192.0.2.5]:53");
	assert_int_equal(cfg.xfr.secondaries[4].notify_from.rules[0].family, AF_INET);
	assert_memory_equal(cfg.xfr.secondaries[4].notify_from.rules[0].addr, "\xc0\0\2\5", 4);
	char err[512];
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), 0);
	pd_config_free(&cfg);
}

static void secondary_errors(void **state)
{
	pd_config_t cfg;
	pd_config_init(&cfg);
	set_ok(&cfg, "tsig-key", "k hmac-sha256 " SECRET);
	set_fails(&cfg, "secondary", "example.com",
	          "secondary wants a zone and its primaries: 'secondary: example.com 192.0.2.1 "
	          "[2001:db8::1]:5300 [key NAME] [notify-from PREFIX...]'");
	set_fails(&cfg, "catalog", "",
	          "catalog wants a zone and its primaries: 'catalog: example.com 192.0.2.1 "
	          "[2001:db8::1]:5300 [key NAME]'");
	set_fails(&cfg, "secondary", "bad..name 192.0.2.1",
	          "secondary: 'bad..name' is not a domain name");
	set_fails(&cfg, "secondary", "example.com primary.example.com",
	          "secondary example.com: bad address 'primary.example.com' (want ADDR or "
	          "ADDR:PORT, e.g. 192.0.2.1, 192.0.2.1:5300 or [2001:db8::1]:5300)");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1:99999",
	          "secondary example.com: bad address '192.0.2.1:99999' (want ADDR or "
	          "ADDR:PORT, e.g. 192.0.2.1, 192.0.2.1:5300 or [2001:db8::1]:5300)");
	set_fails(&cfg, "secondary", "example.com key k",
	          "secondary example.com: no primary (want 'ZONE ADDR[:PORT]... [key NAME]')");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 key",
	          "secondary example.com: 'key' wants the name of a tsig-key");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 key nokey",
	          "secondary example.com: tsig-key 'nokey' is not defined (its tsig-key line "
	          "must come before its use)");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 key k key k",
	          "secondary example.com: 'key' is given twice");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 key k 192.0.2.2",
	          "secondary example.com: '192.0.2.2' after 'key' or 'notify-from' (primaries "
	          "come first)");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 notify-from",
	          "secondary example.com: 'notify-from' wants addresses or prefixes");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 notify-from key k",
	          "secondary example.com: 'notify-from' wants addresses or prefixes");
	set_fails(&cfg, "secondary", "example.com 192.0.2.1 notify-from 10.0.0.0/33",
	          "secondary example.com: bad address or prefix '10.0.0.0/33' (want e.g. "
	          "192.0.2.1, 192.0.2.0/24 or 2001:db8::/32)");
	set_fails(&cfg, "secondary",
	          "example.com 192.0.2.1 notify-from 10.0.0.1 notify-from 10.0.0.2",
	          "secondary example.com: 'notify-from' is given twice");
	assert_int_equal(cfg.xfr.nsecondaries, 0); /* none of them was kept */
	/* What only the whole says: a zone twice, or from a file and transferred. */
	set_ok(&cfg, "secondary", "example.com 192.0.2.1");
	set_ok(&cfg, "catalog", "EXAMPLE.com. 192.0.2.2");
	char err[512];
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "zone EXAMPLE.com. is configured twice as a secondary or catalog");
	pd_config_free(&cfg);
	pd_config_init(&cfg);
	set_ok(&cfg, "secondary", "b.example 192.0.2.1");
	set_ok(&cfg, "secondary", "a.example 192.0.2.1");
	set_ok(&cfg, "zone", "c.example c.zone");
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), 0);
	set_ok(&cfg, "zone", "B.Example. b.zone");
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "zone b.example is both a secondary (transferred from its "
	                         "primaries) and a 'zone:' loaded from b.zone: keep one");
	pd_config_free(&cfg);
}

static void provide_and_notify(void **state)
{
	pd_config_t cfg;
	pd_config_init(&cfg);
	set_ok(&cfg, "tsig-key", "k hmac-sha256 " SECRET);
	set_ok(&cfg, "provide-xfr", "example.com 192.0.2.7/24 key k");
	set_ok(&cfg, "provide-xfr", "* 127.0.0.1 ::1");
	set_ok(&cfg, "provide-xfr", "EXAMPLE.COM 2001:db8::/32");
	assert_int_equal(cfg.xfr.nprovide, 2); /* one entry per zone, lines add to it */
	const pd_xfr_provide_t *p = &cfg.xfr.provide[0];
	assert_string_equal(p->origin, "example.com");
	assert_memory_equal(p->wire, "\7example\3com", 13);
	assert_int_equal(p->acl.n, 2);
	assert_int_equal(p->acl.rules[0].family, AF_INET);
	assert_int_equal(p->acl.rules[0].prefix, 24);
	assert_memory_equal(p->acl.rules[0].addr, "\xc0\0\2\0", 4); /* bits past it cleared */
	assert_ptr_equal(p->acl.rules[0].key, &cfg.xfr.keys[0]);
	assert_int_equal(p->acl.rules[1].family, AF_INET6);
	assert_int_equal(p->acl.rules[1].prefix, 32);
	assert_null(p->acl.rules[1].key);
	p = &cfg.xfr.provide[1];
	assert_null(p->origin);
	assert_int_equal(p->acl.n, 2);
	assert_int_equal(p->acl.rules[1].family, AF_INET6);
	assert_int_equal(p->acl.rules[1].prefix, 128);
	set_ok(&cfg, "notify", "example.com 192.0.2.2 [2001:db8::2]:5300 key k");
	set_ok(&cfg, "notify", "* 198.51.100.1:5301");
	assert_int_equal(cfg.xfr.nnotify, 3);
	assert_string_equal(cfg.xfr.notify[0].origin, "example.com");
	assert_memory_equal(cfg.xfr.notify[1].wire, "\7example\3com", 13);
	assert_int_equal(port_of(&cfg.xfr.notify[0].target.addr), 53);
	assert_int_equal(port_of(&cfg.xfr.notify[1].target.addr), 5300);
	assert_ptr_equal(cfg.xfr.notify[1].target.key, &cfg.xfr.keys[0]);
	assert_null(cfg.xfr.notify[2].origin);
	assert_null(cfg.xfr.notify[2].target.key);
	assert_int_equal(port_of(&cfg.xfr.notify[2].target.addr), 5301);
	/* The rules and targets follow their key when the key array moves. */
	set_ok(&cfg, "tsig-key", "k2 hmac-sha256 " SECRET);
	assert_ptr_equal(cfg.xfr.provide[0].acl.rules[0].key, &cfg.xfr.keys[0]);
	assert_ptr_equal(cfg.xfr.notify[0].target.key, &cfg.xfr.keys[0]);
	set_fails(&cfg, "provide-xfr", "example.com",
	          "provide-xfr wants a zone (or * for all) and who may transfer it: "
	          "'provide-xfr: example.com 192.0.2.0/24 [key NAME]'");
	set_fails(&cfg, "provide-xfr", "example.com key k",
	          "provide-xfr example.com: no address or prefix to allow");
	set_fails(&cfg, "provide-xfr", "example.com 192.0.2.0/24 key nokey",
	          "provide-xfr example.com: tsig-key 'nokey' is not defined (its tsig-key line "
	          "must come before its use)");
	set_fails(&cfg, "provide-xfr", "example.com 192.0.2.0/24 key k 10.0.0.1",
	          "provide-xfr example.com: '10.0.0.1' after 'key' (addresses come first)");
	set_fails(&cfg, "provide-xfr", "example.com any",
	          "provide-xfr example.com: bad address or prefix 'any' (want e.g. 192.0.2.1, "
	          "192.0.2.0/24 or 2001:db8::/32)");
	set_fails(&cfg, "provide-xfr", "a..b 192.0.2.1",
	          "provide-xfr: 'a..b' is not a domain name");
	set_fails(&cfg, "notify", "*",
	          "notify wants a zone (or * for all) and the servers to notify: 'notify: "
	          "example.com 192.0.2.2 [2001:db8::2]:5300 [key NAME]'");
	set_fails(&cfg, "notify", "example.com 192.0.2.0/24",
	          "notify example.com: bad address '192.0.2.0/24' (want ADDR or ADDR:PORT, e.g. "
	          "192.0.2.1, 192.0.2.1:5300 or [2001:db8::1]:5300)");
	set_fails(&cfg, "notify", "example.com key k", "notify example.com: no address to notify");
	set_fails(&cfg, "notify", "example.com 192.0.2.1 key other",
	          "notify example.com: tsig-key 'other' is not defined (its tsig-key line must "
	          "come before its use)");
	set_fails(&cfg, "notify", "a..b 192.0.2.1", "notify: 'a..b' is not a domain name");
	assert_int_equal(cfg.xfr.nprovide, 2);
	assert_int_equal(cfg.xfr.provide[0].acl.n, 2);
	assert_int_equal(cfg.xfr.nnotify, 3);
	pd_config_free(&cfg);
}

static void xfr_sizes_times_state_dir(void **state)
{
	pd_config_t cfg;
	pd_config_init(&cfg);
	set_ok(&cfg, "xfr-max-size", "64M");
	assert_int_equal(cfg.xfr.max_size, 64ull << 20);
	set_ok(&cfg, "xfr-max-size", "2G");
	assert_int_equal(cfg.xfr.max_size, 2ull << 30);
	set_fails(&cfg, "xfr-max-size", "0",
	          "xfr-max-size must be bytes with an optional K, M or G, from 1K to 64G, not '0'");
	set_fails(&cfg, "xfr-max-size", "65G",
	          "xfr-max-size must be bytes with an optional K, M or G, from 1K to 64G, not "
	          "'65G'");
	set_ok(&cfg, "xfr-journal-size", "0");
	assert_int_equal(cfg.xfr.journal_size, 0);
	set_ok(&cfg, "xfr-journal-size", "512k");
	assert_int_equal(cfg.xfr.journal_size, 512u << 10);
	set_fails(&cfg, "xfr-journal-size", "-1",
	          "xfr-journal-size must be bytes with an optional K, M or G, up to 1G (0: no "
	          "IXFR, always AXFR), not '-1'");
	set_ok(&cfg, "xfr-timeout", "30s");
	assert_int_equal(cfg.xfr.timeout_ms, 30000);
	set_ok(&cfg, "xfr-timeout", "2500");
	assert_int_equal(cfg.xfr.timeout_ms, 2500);
	set_fails(&cfg, "xfr-timeout", "2h",
	          "xfr-timeout must be a time from 100ms to 1h, in ms or with an ms, s, m, h or "
	          "d suffix, not '2h'");
	set_ok(&cfg, "state-dir", "/srv/pindns/state");
	assert_string_equal(cfg.xfr.state_dir, "/srv/pindns/state");
	set_fails(&cfg, "state-dir", "", "state-dir wants a folder");
	pd_config_free(&cfg);
}

/* The file form: keys before use, line numbers in errors, state-dir beside the file. */
static void xfr_file(void **state)
{
	pd_config_t cfg;
	char err[512];
	pd_config_init(&cfg);
	char *path = write_temp("tsig-key: xfr.key hmac-sha256 " SECRET "\n"
	                        "secondary: example.com 192.0.2.1:5300 key xfr.key  # primary\n"
	                        "provide-xfr: * 127.0.0.1/32\n"
	                        "notify: * 127.0.0.1:5301 key xfr.key\n"
	                        "state-dir: state\n"
	                        "xfr-timeout: 5s\n");
	assert_int_equal(pd_config_load(&cfg, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(cfg.xfr.nkeys, 1);
	assert_int_equal(cfg.xfr.nsecondaries, 1);
	assert_int_equal(cfg.xfr.secondaries[0].nprimaries, 1);
	assert_int_equal(cfg.xfr.nprovide, 1);
	assert_int_equal(cfg.xfr.nnotify, 1);
	assert_string_equal(cfg.xfr.state_dir, "/tmp/state");
	assert_int_equal(cfg.xfr.timeout_ms, 5000);
	assert_int_equal(pd_config_check(&cfg, err, sizeof(err)), 0);
	pd_config_free(&cfg);
	expect_load_error("secondary: example.com 192.0.2.1 key late\n"
	                  "tsig-key: late hmac-sha256 " SECRET "\n",
	                  "1: secondary example.com: tsig-key 'late' is not defined (its "
	                  "tsig-key line must come before its use)");
	expect_load_error("\nnotify: example.com host:53\n",
	                  "2: notify example.com: bad address 'host:53' (want ADDR or ADDR:PORT, "
	                  "e.g. 192.0.2.1, 192.0.2.1:5300 or [2001:db8::1]:5300)");
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
	    cmocka_unit_test(xfr_defaults),
	    cmocka_unit_test(tsig_keys),
	    cmocka_unit_test(secondaries),
	    cmocka_unit_test(secondary_errors),
	    cmocka_unit_test(provide_and_notify),
	    cmocka_unit_test(xfr_sizes_times_state_dir),
	    cmocka_unit_test(xfr_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
