/*
 * test_core_net_lock.c — src/core/net_lock.c: one process per listen
 * address even with SO_REUSEPORT.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/core.h"

static struct net_addr addr(const char *s)
{
	struct net_addr a;
	assert_int_equal(net_addr_parse(str_from_cstr(s), 0, &a), 0);
	return a;
}

/* The exit status of a child that tries to take a's lock. */
static int lock_in_child(const struct net_addr *a, int type)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(net_listen_lock(a, type) == -EADDRINUSE ? 1 : 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WEXITSTATUS(status);
}

static void test_second_process_is_refused(void **state)
{
	struct net_addr a = addr("127.0.0.1:45871");

	assert_int_equal(lock_in_child(&a, SOCK_STREAM),
			 0); /* free: the child took it and exited */
	assert_int_equal(net_listen_lock(&a, SOCK_STREAM), 0);
	assert_int_equal(net_listen_lock(&a, SOCK_STREAM), 0); /* ours already */
	assert_int_equal(lock_in_child(&a, SOCK_STREAM), 1);
	/* UDP and TCP on one port are different listeners. */
	assert_int_equal(lock_in_child(&a, SOCK_DGRAM), 0);
}

static void test_reuseport_bind_of_a_held_address_fails_in_another_process(void **state)
{
	struct net_addr a = addr("127.0.0.1:45872");
	int fd = net_socket_bind(&a, SOCK_DGRAM, true);
	pid_t pid;
	int status = 0;

	assert_true(fd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(net_socket_bind(&a, SOCK_DGRAM, true) == -EADDRINUSE ? 1 : 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 1);
	/* The same process binds it again (one socket per worker thread). */
	int fd2 = net_socket_bind(&a, SOCK_DGRAM, true);
	assert_true(fd2 >= 0);
	close(fd2);
	close(fd);
}

static void test_port_zero_needs_no_lock(void **state)
{
	struct net_addr a = addr("127.0.0.1:0");
	assert_int_equal(net_listen_lock(&a, SOCK_STREAM), 0);
	assert_int_equal(lock_in_child(&a, SOCK_STREAM), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_second_process_is_refused),
	    cmocka_unit_test(test_reuseport_bind_of_a_held_address_fails_in_another_process),
	    cmocka_unit_test(test_port_zero_needs_no_lock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
