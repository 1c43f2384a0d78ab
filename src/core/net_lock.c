/*
 * net_lock.c — one warp per listen address.
 *
 * Sockets bound with SO_REUSEPORT (the HTTP threads, the SIP workers)
 * share their port with any other socket of the same user that sets it
 * too, so a second warp started on the same address would bind without an
 * error and steal part of the traffic.  Before such a bind the process
 * takes a lock named after the address: an abstract Unix socket
 * ("\0warp-listen tcp 127.0.0.1:8080"), which the kernel makes unique per
 * network namespace, like the port itself, and releases when the process
 * exits however it ends — no file to clean up after a kill -9.
 *
 * Global state: the locks this process holds (the sockets stay open until
 * it exits, which is what holds them), guarded by locks_mu, so that the
 * several sockets one process binds to one address take the lock once.
 */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOCKS_MAX 64

static pthread_mutex_t locks_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pid_t pid; /* a child after fork() holds no lock of its parent's */
} locks[LOCKS_MAX];
static size_t nlocks;

static int lock_name(const struct net_addr *a, int type, char *out, size_t n)
{
	char where[NET_ADDR_STRLEN];

	if (net_addr_format(a, where, sizeof(where)) < 0)
		return -EINVAL;
	/* out[0] stays NUL: the abstract namespace. */
	int len = snprintf(out + 1, n - 1, "warp-listen %s %s", type == SOCK_STREAM ? "tcp" : "udp",
			   where);
	return len < 0 || (size_t)len >= n - 1 ? -EINVAL : len + 1;
}

int net_listen_lock(const struct net_addr *a, int type)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int len, fd, rc = 0;

	if (net_addr_port(a) == 0)
		return 0; /* the kernel picks a free port: nobody else's */
	len = lock_name(a, type, sun.sun_path, sizeof(sun.sun_path));
	if (len < 0)
		return len;
	pthread_mutex_lock(&locks_mu);
	for (size_t i = 0; i < nlocks; i++)
		if (locks[i].pid == getpid() &&
		    memcmp(locks[i].name, sun.sun_path, (size_t)len) == 0 &&
		    locks[i].name[len] == '\0')
			goto out; /* ours already */
	if (nlocks == LOCKS_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (bind(fd, (struct sockaddr *)&sun,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)len)) < 0) {
		rc = errno == EADDRINUSE ? -EADDRINUSE : -errno;
		close(fd);
		goto out;
	}
	/* fd stays open: it is the lock. */
	memcpy(locks[nlocks].name, sun.sun_path, (size_t)len);
	locks[nlocks++].pid = getpid();
out:
	pthread_mutex_unlock(&locks_mu);
	return rc;
}
