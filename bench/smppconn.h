/*
 * smppconn.h — one non-blocking SMPP connection of the bench tools: bytes
 * read into a fixed input buffer and framed into PDUs in place, PDUs to send
 * queued in an output buffer that grows up to SMPPC_OUT_MAX and is flushed
 * whenever the socket takes more.  The caller owns the struct and the fd
 * (smppc_init, smppc_fini).  Used only by bench/smppsink.c and
 * bench/smppload.c; not installed.
 */
#ifndef BENCH_SMPPCONN_H
#define BENCH_SMPPCONN_H

#include <stddef.h>
#include <stdint.h>

#include "smppwire.h"

#define SMPPC_IN_SIZE (4 * SMPPW_PDU_MAX)
#define SMPPC_OUT_MAX (64u << 20) /* a peer this far behind is dropped */

struct smppc {
	int fd;
	uint8_t in[SMPPC_IN_SIZE];
	size_t in_len, in_off; /* bytes held; bytes of them already handled */
	uint8_t *out;
	size_t out_len, out_off, out_cap;
};

/* Takes fd (non-blocking) into c. */
void smppc_init(struct smppc *c, int fd);
/* Closes the fd and frees the output buffer. */
void smppc_fini(struct smppc *c);
/* Reads what the socket holds: 0, or -1 on EOF or an error. */
int smppc_read(struct smppc *c);
/* The next whole PDU read, as smppw_frame answers (1, 0 or -1). */
int smppc_next(struct smppc *c, struct smppw_pdu *pdu);
/* Queues n bytes and tries to send: 0, or -1 when the output is full or
 * the socket failed. */
int smppc_send(struct smppc *c, const void *p, size_t n);
/* Sends what is queued: 0, or -1 when the socket failed. */
int smppc_flush(struct smppc *c);
/* Bytes queued and not yet sent. */
size_t smppc_pending(const struct smppc *c);
/* Opens a blocking TCP connection to 127.0.0.1:port then makes it
 * non-blocking: the fd, or -1. */
int smppc_connect(uint16_t port);
/* utime + stime of process pid (0: this process), in seconds. */
double smppc_cpu_seconds(int pid);

#endif
