/* pindns-null: the benchmark floor. recvmmsg, set QR, sendmmsg back: no DNS logic at all. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pindns/listen.h"

#define BATCH 32 /* the same batch size as pindnsd, so the floor is comparable */

int main(int argc, char **argv)
{
	pd_listen_t l;
	static unsigned char buf[BATCH][4096];
	static struct sockaddr_storage peer[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	int one = 1, rcvbuf = 4 << 20;

	if (argc < 2 || pd_listen_parse(&l, argv[1]) < 0) {
		fprintf(stderr, "usage: pindns-null ADDR:PORT [CPU]\n");
		return 2;
	}
	if (argc > 2) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(atoi(argv[2]), &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	int fd = socket(l.addr.ss_family, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (struct sockaddr *)&l.addr, l.addr_len) < 0) {
		fprintf(stderr, "pindns-null: %s: %s\n", l.text, strerror(errno));
		return 1;
	}
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = buf[i];
			iov[i].iov_len = sizeof(buf[i]);
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &peer[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(peer[i]);
		}
		int got = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (got <= 0)
			continue;
		for (int i = 0; i < got; i++) {
			buf[i][2] |= 0x80;
			iov[i].iov_len = msgs[i].msg_len;
		}
		sendmmsg(fd, msgs, (unsigned)got, 0);
	}
}
