/* pindnsctl upgrade: starting the successor, watching it, and answering with the outcome. */
#define _GNU_SOURCE
#include "upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pindns/control.h"
#include "pindns/log.h"
#include "pindns/version.h"

extern char **environ;

/* After the successor closed its report without taking over, how long it has to exit
 * before it is killed. */
#define PD__EOF_GRACE_MS 2000

static const char pd__deleted[] = " (deleted)";

int pd_upgrade_init(pd_upgrade_t *u, char **argv)
{
	char path[PATH_MAX];
	memset(u, 0, sizeof(*u));
	u->report_fd = u->conn = -1;
	u->argv = argv;
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	/* Replaced before we got here: the name still says where the binary is installed. */
	size_t dl = sizeof(pd__deleted) - 1;
	if ((size_t)n > dl && strcmp(path + n - dl, pd__deleted) == 0)
		path[n - dl] = '\0';
	u->exe = strdup(path);
	return 0;
}

static double pd__since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Our environment without systemd's socket activation variables, which described our
 * start: the successor's sockets come by handoff. The strings stay environ's. */
static char **pd__successor_env(void)
{
	static const char *const drop[] = {"LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES="};
	size_t n = 0, k = 0;
	while (environ && environ[n])
		n++;
	char **env = calloc(n + 1, sizeof(*env));
	for (size_t i = 0; env && i < n; i++) {
		bool keep = true;
		for (size_t j = 0; j < sizeof(drop) / sizeof(*drop); j++)
			keep = keep && strncmp(environ[i], drop[j], strlen(drop[j])) != 0;
		if (keep)
			env[k++] = environ[i];
	}
	return env;
}

/* Runs exe as our successor with its report socket at child_fd: its pid, or -errno. */
static int pd__spawn(const pd_upgrade_t *u, const char *takeover, int child_fd, pid_t *pid)
{
	char fdtext[16];
	size_t argc = 0;
	int ret = -ENOMEM;
	while (u->argv[argc])
		argc++;
	char **argv = calloc(argc + 5, sizeof(*argv));
	char **env = pd__successor_env();
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	if (!argv || !env)
		goto out;
	memcpy(argv, u->argv, argc * sizeof(*argv));
	snprintf(fdtext, sizeof(fdtext), "%d", child_fd);
	argv[argc++] = "--takeover";
	argv[argc++] = (char *)takeover;
	argv[argc++] = "--upgrade-report";
	argv[argc++] = fdtext;
	/* Our blocked signals (read from a signalfd) and ignored SIGPIPE would be inherited
	 * through exec: the successor starts as from a shell. dup2 onto itself clears
	 * close-on-exec on its end of the report socket alone. */
	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	ret = posix_spawn_file_actions_adddup2(&fa, child_fd, child_fd);
	if (ret == 0)
		ret =
		    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (ret == 0)
		ret = posix_spawnattr_setsigmask(&attr, &none);
	if (ret == 0)
		ret = posix_spawnattr_setsigdefault(&attr, &dfl);
	/* posix_spawn (vfork-like) rather than fork: no copy of a large zone set's page
	 * tables, and a binary that cannot be run is told here, as its errno. */
	if (ret == 0)
		ret = posix_spawn(pid, u->exe, &fa, &attr, argv, env);
	ret = -ret;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
out:
	free(argv);
	free(env);
	return ret;
}

int pd_upgrade_start(pd_upgrade_t *u, const char *takeover, int timeout_s, int conn, char *msg,
                     size_t cap)
{
	int sv[2];
	pid_t pid;
	if (u->pid > 0) {
		snprintf(msg, cap,
		         "an upgrade is already under way (the new pindnsd is pid %ld, "
		         "started %.0f s ago): one at a time",
		         (long)(u->serving_pid ? u->serving_pid : u->pid), pd__since(&u->started));
		return -EBUSY;
	}
	if (!u->exe || !u->argv) {
		snprintf(msg, cap,
		         "upgrade: this pindnsd could not learn its binary (/proc/self/exe) or its "
		         "command line at start-up; start the new one with --takeover");
		return -ENOENT;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = errno;
		snprintf(msg, cap, "upgrade failed: socketpair: %s; still serving as pid %ld",
		         strerror(e), (long)getpid());
		return -e;
	}
	int ret = pd__spawn(u, takeover, sv[1], &pid);
	close(sv[1]);
	if (ret < 0) {
		close(sv[0]);
		snprintf(msg, cap, "upgrade failed: cannot run %s: %s; still serving as pid %ld",
		         u->exe, strerror(-ret), (long)getpid());
		return ret;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	u->pid = pid;
	u->serving_pid = 0;
	u->version[0] = '\0';
	u->report_fd = sv[0];
	u->conn = conn;
	u->timeout_s = timeout_s;
	u->eof = u->killed = u->adopted = false;
	u->line_len = u->quote_len = 0;
	u->errors = u->unquoted = 0;
	clock_gettime(CLOCK_MONOTONIC, &u->started);
	u->deadline = u->started;
	u->deadline.tv_sec += timeout_s;
	pd_log(PD_LOG_INFO, "upgrade: started %s as pid %ld, to take over from pid %ld", u->exe,
	       (long)pid, (long)getpid());
	return 0;
}

int pd_upgrade_fd(const pd_upgrade_t *u)
{
	return u->pid > 0 && !u->killed ? u->report_fd : -1;
}

int pd_upgrade_wait_ms(const pd_upgrade_t *u)
{
	struct timespec now;
	if (u->pid <= 0 || u->killed)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(u->deadline.tv_sec - now.tv_sec) * 1000 +
	               (u->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms + 1; /* +1: not a ms too early */
}

/* Sends the outcome to the waiting pindnsctl, and to the log. */
static void pd__answer(pd_upgrade_t *u, bool ok, const char *text)
{
	pd_log(ok ? PD_LOG_INFO : PD_LOG_WARN, "%s", text);
	if (u->conn >= 0)
		pd_control_reply(u->conn, ok, text);
	u->conn = -1;
}

/* One line of the report. */
static void pd__report_line(pd_upgrade_t *u, const char *line)
{
	long pid;
	char version[sizeof(u->version)];
	if (strncmp(line, "error ", 6) == 0) {
		u->errors++;
		size_t len = strlen(line + 6);
		/* Room kept for the "; " between two lines and the reply's own words. */
		if (u->quote_len + len + 2 >= sizeof(u->quote)) {
			u->unquoted++;
			return;
		}
		u->quote_len +=
		    (size_t)snprintf(u->quote + u->quote_len, sizeof(u->quote) - u->quote_len,
		                     "%s%s", u->quote_len ? "; " : "", line + 6);
	} else if (sscanf(line, "pid %ld version %63s", &pid, version) == 2 && pid > 0) {
		u->serving_pid = (pid_t)pid;
		memcpy(u->version, version, sizeof(version));
	}
}

static void pd__forget(pd_upgrade_t *u);
static void pd__failed(pd_upgrade_t *u, const char *how);

void pd_upgrade_on_report(pd_upgrade_t *u)
{
	char buf[4096];
	for (;;) {
		ssize_t k = read(u->report_fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return; /* EAGAIN: all read */
		if (k == 0)
			break;
		for (ssize_t i = 0; i < k; i++) {
			if (buf[i] != '\n') {
				if (u->line_len + 1 < sizeof(u->line))
					u->line[u->line_len++] = buf[i];
				continue;
			}
			u->line[u->line_len] = '\0';
			pd__report_line(u, u->line);
			u->line_len = 0;
		}
	}
	/* Closed: it exits (its SIGCHLD comes next, unless it is PID 1's now), or it is not
	 * the pindnsd we know. */
	close(u->report_fd);
	u->report_fd = -1;
	u->eof = true;
	if (u->adopted && u->conn >= 0 && kill(u->pid, 0) < 0 && errno == ESRCH) {
		char how[128];
		snprintf(how, sizeof(how), "the new pindnsd (pid %ld) exited before taking over",
		         (long)u->pid);
		pd__failed(u, how);
		pd__forget(u);
		return;
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now.tv_sec += PD__EOF_GRACE_MS / 1000;
	if (now.tv_sec < u->deadline.tv_sec)
		u->deadline = now;
}

/* The successor is gone, reaped or killed: what it left unread, then no upgrade. */
static void pd__forget(pd_upgrade_t *u)
{
	if (u->report_fd >= 0)
		close(u->report_fd);
	u->report_fd = -1;
	u->pid = 0;
}

/* The failure reply: what the successor said, or else how it ended. */
static void pd__failed(pd_upgrade_t *u, const char *how)
{
	char text[PD_UPGRADE_QUOTE_MAX + 512], more[64] = "";
	if (u->unquoted)
		snprintf(more, sizeof(more), "; and %u more error(s) in its log", u->unquoted);
	if (u->quote_len)
		snprintf(text, sizeof(text), "upgrade failed: %s%s; still serving as pid %ld",
		         u->quote, more, (long)getpid());
	else
		snprintf(text, sizeof(text), "upgrade failed: %s; still serving as pid %ld", how,
		         (long)getpid());
	pd__answer(u, false, text);
}

void pd_upgrade_on_child(pd_upgrade_t *u)
{
	char how[128];
	int ws;
	pid_t pid;
	/* Our only children are successors: anything else that ends is reaped too. */
	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		if (pid != u->pid)
			continue;
		if (u->report_fd >= 0)
			pd_upgrade_on_report(u); /* what it wrote before it exited */
		/* It left us at once for PID 1 (see --upgrade-report): its child goes on, and
		 * is followed by its report socket from now on, not by waitpid(). */
		if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && u->serving_pid > 0 &&
		    u->serving_pid != pid && !u->eof) {
			u->pid = u->serving_pid;
			u->adopted = true;
			continue;
		}
		if (WIFSIGNALED(ws))
			snprintf(how, sizeof(how),
			         "the new pindnsd (pid %ld) was killed by signal %d", (long)pid,
			         WTERMSIG(ws));
		else
			snprintf(
			    how, sizeof(how),
			    "the new pindnsd (pid %ld) exited with status %d before taking over",
			    (long)pid, WEXITSTATUS(ws));
		if (u->conn >= 0)
			pd__failed(u, how);
		pd__forget(u);
	}
}

void pd_upgrade_on_time(pd_upgrade_t *u)
{
	char how[256];
	if (pd_upgrade_wait_ms(u) != 0)
		return;
	/* One that detached serves from another process: both go (the report socket, still
	 * open, says that one lives on, so its pid is not another's yet). */
	if (u->serving_pid > 0 && u->serving_pid != u->pid && !u->eof)
		kill(u->serving_pid, SIGKILL);
	/* One that left us and closed its report has exited or is exiting, and PID 1 may have
	 * reaped it: its pid may be another process's by now. */
	if (!(u->adopted && u->eof))
		kill(u->pid, SIGKILL);
	u->killed = true; /* reaped on its SIGCHLD */
	if (u->eof)
		snprintf(how, sizeof(how),
		         "the new pindnsd (pid %ld) stopped reporting without taking over, and was "
		         "killed if still there",
		         (long)u->pid);
	else
		snprintf(
		    how, sizeof(how),
		    "the new pindnsd (pid %ld) did not take over within upgrade-timeout (%d s), "
		    "and was killed",
		    (long)(u->serving_pid ? u->serving_pid : u->pid), u->timeout_s);
	if (u->report_fd >= 0)
		pd_upgrade_on_report(u);
	if (u->eof) { /* it stopped: what it said is why */
		pd__failed(u, how);
		if (u->adopted)
			pd__forget(u);
		return;
	}
	/* A timeout is said as such, whatever it had reported meanwhile. */
	char text[PD_UPGRADE_QUOTE_MAX + 512];
	snprintf(text, sizeof(text), "upgrade failed: %s%s%s; still serving as pid %ld", how,
	         u->quote_len ? "; it said: " : "", u->quote_len ? u->quote : "", (long)getpid());
	pd__answer(u, false, text);
	if (u->adopted)
		pd__forget(u); /* PID 1 reaps it: no SIGCHLD of ours will */
}

pid_t pd_upgrade_main_pid(const pd_upgrade_t *u, pid_t peer)
{
	if (u->pid > 0 && peer == u->pid && u->serving_pid > 0)
		return u->serving_pid;
	return peer;
}

void pd_upgrade_handed_over(pd_upgrade_t *u, pid_t peer)
{
	char text[512];
	if (u->pid <= 0)
		return;
	if (u->report_fd >= 0)
		pd_upgrade_on_report(u); /* its "pid ... version ..." line, long written */
	if (peer == u->pid || (peer > 0 && peer == u->serving_pid)) {
		snprintf(text, sizeof(text),
		         "upgrade done: pid %ld -> pid %ld (version %s), in %.1f s", (long)getpid(),
		         (long)pd_upgrade_main_pid(u, peer), u->version[0] ? u->version : "unknown",
		         pd__since(&u->started));
		pd__answer(u, true, text);
	} else {
		/* Someone ran pindnsd --takeover meanwhile: ours would take over from it next. */
		kill(u->pid, SIGTERM);
		snprintf(
		    text, sizeof(text),
		    "upgrade abandoned: another pindnsd (pid %ld) took the sockets over first; "
		    "the one started by upgrade (pid %ld) was told to stop",
		    (long)peer, (long)u->pid);
		pd__answer(u, false, text);
	}
	pd__forget(u); /* the server now, or stopping: either way not ours to wait for */
}

void pd_upgrade_free(pd_upgrade_t *u)
{
	if (u->pid > 0 && !u->killed) {
		char text[256];
		kill(u->pid, SIGTERM); /* it stops before binding, or finds no one to take from */
		snprintf(
		    text, sizeof(text),
		    "upgrade abandoned: pindnsd pid %ld is stopping; the new one (pid %ld) was "
		    "told to stop",
		    (long)getpid(), (long)u->pid);
		pd__answer(u, false, text);
	}
	pd__forget(u);
	for (size_t i = 0; u->argv && u->argv[i]; i++)
		free(u->argv[i]);
	free(u->argv);
	free(u->exe);
	u->argv = NULL;
	u->exe = NULL;
}
