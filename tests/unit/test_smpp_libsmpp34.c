/*
 * test_smpp_libsmpp34.c — src/smpp against an independent encoder: Debian's
 * libsmpp34.  For every PDU type libsmpp34 knows, the same PDU is built with
 * both; the bytes must be identical, our decoder must read libsmpp34's bytes
 * back into the same PDU (checked field by field where it matters, and by
 * re-encoding it byte for byte), and libsmpp34 must read ours and re-pack
 * them unchanged.
 *
 * libsmpp34 keeps its error text in globals (smpp34_errno, smpp34_strerror)
 * and allocates TLV and address lists with its own allocator: this program
 * is single-threaded, and the allocator below tracks every block so that each
 * test frees what libsmpp34 allocated for it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smpp/smpp.h"

/* libsmpp34's headers are not self-contained: params needs structs first. */
#include <smpp34.h>
#include <smpp34_heap.h>
#include <smpp34_structs.h>

#include <smpp34_params.h>

/* --------------------------------------------------- libsmpp34's memory */

#define LIB_BLOCKS_MAX 256
static void *lib_blocks[LIB_BLOCKS_MAX];
static size_t lib_nblocks;

static void lib_track(void *p)
{
	assert_true(lib_nblocks < LIB_BLOCKS_MAX);
	lib_blocks[lib_nblocks++] = p;
}

static void lib_untrack(void *p)
{
	for (size_t i = 0; i < lib_nblocks; i++)
		if (lib_blocks[i] == p) {
			lib_blocks[i] = lib_blocks[--lib_nblocks];
			return;
		}
}

static void *lib_malloc(size_t n)
{
	void *p = calloc(1, n);

	if (p != NULL)
		lib_track(p);
	return p;
}

static void *lib_realloc(void *old, size_t n)
{
	void *p;

	/* Untracked first: after realloc, old may not be looked at. */
	if (old != NULL)
		lib_untrack(old);
	p = realloc(old, n);
	if (p != NULL)
		lib_track(p);
	else if (old != NULL)
		lib_track(old); /* still ours: realloc failed */
	return p;
}

static void lib_free(void *p)
{
	lib_untrack(p);
	free(p);
}

static int lib_teardown(void **state)
{
	(void)state;
	while (lib_nblocks > 0)
		free(lib_blocks[--lib_nblocks]);
	return 0;
}

/* ------------------------------------------------------- building both */

/* A C string into one of libsmpp34's fixed arrays. */
static void lib_set(uint8_t *dst, size_t n, const char *s)
{
	size_t len = strlen(s);

	assert_true(len < n);
	memcpy(dst, s, len + 1);
}
#define LIB_SET(field, s) lib_set((field), sizeof(field), (s))

/* libsmpp34's build_tlv puts each new TLV at the head of the list, so
 * callers add them last first. */
static void lib_tlv_u8(tlv_t **list, uint16_t tag, uint8_t v)
{
	tlv_t t = {.tag = tag, .length = 1};

	t.value.val08 = v;
	assert_int_equal(build_tlv(list, &t), 0);
}

static void lib_tlv_u16(tlv_t **list, uint16_t tag, uint16_t v)
{
	tlv_t t = {.tag = tag, .length = 2};

	t.value.val16 = v;
	assert_int_equal(build_tlv(list, &t), 0);
}

static void lib_tlv_octets(tlv_t **list, uint16_t tag, const void *v, uint16_t len)
{
	tlv_t t = {.tag = tag, .length = len};

	memcpy(t.value.octet, v, len);
	assert_int_equal(build_tlv(list, &t), 0);
}

static void hex_print(const char *what, const uint8_t *b, size_t n)
{
	fprintf(stderr, "%s (%zu):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 16 == 0 ? "\n  " : " ", b[i]);
	fprintf(stderr, "\n");
}

/* want and got must be the same bytes; step says which leg of compare(). */
static void bytes_equal(const char *step, const uint8_t *want, size_t nwant, const uint8_t *got,
			size_t ngot)
{
	if (nwant != ngot || memcmp(want, got, nwant) != 0) {
		hex_print("want", want, nwant);
		hex_print("got", got, ngot);
		fail_msg("%s: encodings differ", step);
	}
}

/* smpp34_unpack, like build_tlv, puts each TLV, dest_address and
 * unsuccess_sme it reads at the head of its list, so a list it read comes
 * out reversed and is turned back before libsmpp34 packs it again. */
static void *lib_list_reverse(void *head, size_t next_off)
{
	void *prev = NULL;

	while (head != NULL) {
		void **next = (void **)((char *)head + next_off);
		void *rest = *next;

		*next = prev;
		prev = head;
		head = rest;
	}
	return prev;
}

#define TLV_NEXT offsetof(tlv_t, next)

static void lib_lists_unreverse(uint32_t type, void *lib)
{
	switch (type) {
	case SUBMIT_SM:
		((submit_sm_t *)lib)->tlv = lib_list_reverse(((submit_sm_t *)lib)->tlv, TLV_NEXT);
		break;
	case DELIVER_SM:
		((deliver_sm_t *)lib)->tlv = lib_list_reverse(((deliver_sm_t *)lib)->tlv, TLV_NEXT);
		break;
	case DATA_SM:
		((data_sm_t *)lib)->tlv = lib_list_reverse(((data_sm_t *)lib)->tlv, TLV_NEXT);
		break;
	case SUBMIT_MULTI:
		((submit_multi_t *)lib)->dest_addr_def =
		    lib_list_reverse(((submit_multi_t *)lib)->dest_addr_def, offsetof(dad_t, next));
		((submit_multi_t *)lib)->tlv =
		    lib_list_reverse(((submit_multi_t *)lib)->tlv, TLV_NEXT);
		break;
	case SUBMIT_MULTI_RESP:
		((submit_multi_resp_t *)lib)->unsuccess_smes = lib_list_reverse(
		    ((submit_multi_resp_t *)lib)->unsuccess_smes, offsetof(udad_t, next));
		break;
	case ALERT_NOTIFICATION:
		((alert_notification_t *)lib)->tlv =
		    lib_list_reverse(((alert_notification_t *)lib)->tlv, TLV_NEXT);
		break;
	}
}

static uint8_t theirs[4096], mine[4096];
static struct smpp_pdu decoded; /* views into theirs */

/*
 * The whole comparison for one PDU: lib (a libsmpp34 struct of command
 * type) and ours must encode alike, each decoder must read the other's bytes,
 * and each re-encoding must give the same bytes back.  Leaves our decoding of
 * libsmpp34's bytes in `decoded` for field checks.
 */
static void compare(uint32_t type, void *lib, const struct smpp_pdu *ours)
{
	int tlen = 0, rlen = 0, n;
	uint8_t back[sizeof(theirs)];
	union {
		submit_multi_t largest;
		uint8_t any[sizeof(submit_multi_t) + sizeof(deliver_sm_t) + 4096];
	} reread;

	if (smpp34_pack(type, theirs, sizeof(theirs), &tlen, lib) != 0)
		fail_msg("smpp34_pack: %s", smpp34_strerror);
	n = smpp_pdu_encode(ours, mine, sizeof(mine));
	if (n < 0)
		fail_msg("smpp_pdu_encode: %s", smpp_strerror(n));
	bytes_equal("ours vs libsmpp34", theirs, (size_t)tlen, mine, (size_t)n);

	/* ours reads theirs, and writes it back unchanged */
	assert_int_equal(smpp_pdu_decode(theirs, (size_t)tlen, &decoded), 0);
	assert_int_equal(decoded.command_length, (uint32_t)tlen);
	n = smpp_pdu_encode(&decoded, back, sizeof(back));
	assert_true(n > 0);
	bytes_equal("ours re-encoding libsmpp34's", theirs, (size_t)tlen, back, (size_t)n);

	/* theirs reads ours, and packs it back unchanged */
	memset(&reread, 0, sizeof(reread));
	if (smpp34_unpack(type, &reread, mine, tlen) != 0)
		fail_msg("smpp34_unpack: %s", smpp34_strerror);
	lib_lists_unreverse(type, &reread);
	if (smpp34_pack(type, back, sizeof(back), &rlen, &reread) != 0)
		fail_msg("smpp34_pack of ours: %s", smpp34_strerror);
	bytes_equal("libsmpp34 re-packing ours", mine, (size_t)tlen, back, (size_t)rlen);
}

static void str_is(struct str s, const char *want)
{
	assert_non_null(s.p);
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.p, want, s.len);
}

/* ------------------------------------------------------------- binds */

static void bind_case(uint32_t type)
{
	bind_transmitter_t lib = {0}; /* the three bind structs share one layout */
	struct smpp_pdu p;

	lib.command_id = type;
	lib.sequence_number = 1;
	LIB_SET(lib.system_id, "warp");
	LIB_SET(lib.password, "secret");
	LIB_SET(lib.system_type, "VMA");
	lib.interface_version = SMPP_VERSION;
	lib.addr_ton = 1;
	lib.addr_npi = 1;
	LIB_SET(lib.address_range, "^1555");

	smpp_pdu_init(&p, type, 1);
	p.system_id = STR_LIT("warp");
	p.password = STR_LIT("secret");
	p.system_type = STR_LIT("VMA");
	p.address_range = (struct smpp_addr){1, 1, STR_LIT("^1555")};
	compare(type, &lib, &p);
	str_is(decoded.system_id, "warp");
	str_is(decoded.password, "secret");
	str_is(decoded.address_range.addr, "^1555");
	assert_int_equal(decoded.interface_version, 0x34);
}

static void test_bind_transmitter(void **state)
{
	(void)state;
	bind_case(SMPP_BIND_TRANSMITTER);
}

static void test_bind_receiver(void **state)
{
	(void)state;
	bind_case(SMPP_BIND_RECEIVER);
}

static void test_bind_transceiver(void **state)
{
	(void)state;
	bind_case(SMPP_BIND_TRANSCEIVER);
}

static void bind_resp_case(uint32_t type)
{
	bind_transmitter_resp_t lib = {0};
	struct smpp_pdu p;

	lib.command_id = type;
	lib.sequence_number = 2;
	LIB_SET(lib.system_id, "warp-smsc");
	lib_tlv_u8(&lib.tlv, TLVID_sc_interface_version, 0x34);

	smpp_pdu_init(&p, type, 2);
	p.system_id = STR_LIT("warp-smsc");
	p.tlv.has = SMPP_HAS_SC_INTERFACE_VERSION;
	p.tlv.sc_interface_version = 0x34;
	compare(type, &lib, &p);
	str_is(decoded.system_id, "warp-smsc");
	assert_int_equal(decoded.tlv.has, SMPP_HAS_SC_INTERFACE_VERSION);
	assert_int_equal(decoded.tlv.sc_interface_version, 0x34);
}

static void test_bind_transmitter_resp(void **state)
{
	(void)state;
	bind_resp_case(SMPP_BIND_TRANSMITTER_RESP);
}

static void test_bind_receiver_resp(void **state)
{
	(void)state;
	bind_resp_case(SMPP_BIND_RECEIVER_RESP);
}

static void test_bind_transceiver_resp(void **state)
{
	(void)state;
	bind_resp_case(SMPP_BIND_TRANSCEIVER_RESP);
}

static void test_outbind(void **state)
{
	outbind_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = OUTBIND;
	lib.sequence_number = 3;
	LIB_SET(lib.system_id, "carrier");
	LIB_SET(lib.password, "pw");
	smpp_pdu_init(&p, SMPP_OUTBIND, 3);
	p.system_id = STR_LIT("carrier");
	p.password = STR_LIT("pw");
	compare(OUTBIND, &lib, &p);
	str_is(decoded.password, "pw");
}

/* ---------------------------------------------------- header-only PDUs */

static void header_case(uint32_t type, uint32_t status)
{
	unbind_t lib = {0}; /* every header-only struct is the header alone */
	struct smpp_pdu p;

	lib.command_id = type;
	lib.command_status = status;
	lib.sequence_number = 0x7fffffff;
	smpp_pdu_init(&p, type, 0x7fffffff);
	p.command_status = status;
	compare(type, &lib, &p);
	assert_int_equal(decoded.command_length, 16);
	assert_int_equal(decoded.command_status, status);
	assert_int_equal(decoded.sequence_number, 0x7fffffff);
}

static void test_header_only_pdus(void **state)
{
	(void)state;
	header_case(SMPP_UNBIND, 0);
	header_case(SMPP_UNBIND_RESP, 0);
	header_case(SMPP_ENQUIRE_LINK, 0);
	header_case(SMPP_ENQUIRE_LINK_RESP, 0);
	header_case(SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDID);
	header_case(SMPP_CANCEL_SM_RESP, 0);
	header_case(SMPP_REPLACE_SM_RESP, SMPP_ESME_RINVMSGID);
}

/* ----------------------------------------------------------- submit_sm */

static const char udh_text[] = "\x05\x00\x03\x2a\x02\x01hello";

static void test_submit_sm(void **state)
{
	submit_sm_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = SUBMIT_SM;
	lib.sequence_number = 4;
	LIB_SET(lib.service_type, "CMT");
	lib.source_addr_ton = 5;
	LIB_SET(lib.source_addr, "WARP");
	lib.dest_addr_ton = 1;
	lib.dest_addr_npi = 1;
	LIB_SET(lib.destination_addr, "15551234567");
	lib.esm_class = 0x40;
	lib.priority_flag = 1;
	LIB_SET(lib.validity_period, "261206150000000+");
	lib.registered_delivery = 1;
	lib.data_coding = 8;
	lib.sm_length = sizeof(udh_text) - 1;
	memcpy(lib.short_message, udh_text, sizeof(udh_text) - 1);
	lib_tlv_octets(&lib.tlv, 0x1400, "vendor", 6);
	lib_tlv_u8(&lib.tlv, TLVID_more_messages_to_send, 1);
	lib_tlv_u8(&lib.tlv, TLVID_sar_segment_seqnum, 1);
	lib_tlv_u8(&lib.tlv, TLVID_sar_total_segments, 2);
	lib_tlv_u16(&lib.tlv, TLVID_sar_msg_ref_num, 0xbeef);
	lib_tlv_u16(&lib.tlv, TLVID_destination_port, 5499);
	lib_tlv_u16(&lib.tlv, TLVID_source_port, 2948);
	lib_tlv_u16(&lib.tlv, TLVID_user_message_reference, 0x0102);

	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 4);
	p.service_type = STR_LIT("CMT");
	p.source = (struct smpp_addr){5, 0, STR_LIT("WARP")};
	p.dest = (struct smpp_addr){1, 1, STR_LIT("15551234567")};
	p.esm_class = 0x40;
	p.priority_flag = 1;
	p.validity_period = STR_LIT("261206150000000+");
	p.registered_delivery = 1;
	p.data_coding = 8;
	p.short_message = STR_LIT(udh_text);
	p.tlv.has = SMPP_HAS_USER_MESSAGE_REFERENCE | SMPP_HAS_SOURCE_PORT |
		    SMPP_HAS_DESTINATION_PORT | SMPP_HAS_SAR_MSG_REF_NUM |
		    SMPP_HAS_SAR_TOTAL_SEGMENTS | SMPP_HAS_SAR_SEGMENT_SEQNUM |
		    SMPP_HAS_MORE_MESSAGES_TO_SEND;
	p.tlv.user_message_reference = 0x0102;
	p.tlv.source_port = 2948;
	p.tlv.destination_port = 5499;
	p.tlv.sar_msg_ref_num = 0xbeef;
	p.tlv.sar_total_segments = 2;
	p.tlv.sar_segment_seqnum = 1;
	p.tlv.more_messages_to_send = 1;
	p.tlv.nother = 1;
	p.tlv.other[0] = (struct smpp_tlv){0x1400, STR_LIT("vendor")};
	compare(SUBMIT_SM, &lib, &p);

	str_is(decoded.service_type, "CMT");
	str_is(decoded.source.addr, "WARP");
	assert_int_equal(decoded.source.ton, 5);
	str_is(decoded.dest.addr, "15551234567");
	assert_int_equal(decoded.short_message.len, sizeof(udh_text) - 1);
	assert_memory_equal(decoded.short_message.p, udh_text, sizeof(udh_text) - 1);
	str_is(decoded.schedule_delivery_time, "");
	str_is(decoded.validity_period, "261206150000000+");
	assert_int_equal(decoded.data_coding, 8);
	assert_int_equal(decoded.tlv.sar_msg_ref_num, 0xbeef);
	assert_int_equal(decoded.tlv.destination_port, 5499);
	assert_int_equal(decoded.tlv.nother, 1);
	assert_int_equal(decoded.tlv.other[0].tag, 0x1400);
	str_is(decoded.tlv.other[0].value, "vendor");
}

static void message_id_resp_case(uint32_t type, const char *id)
{
	submit_sm_resp_t lib = {0}; /* data_sm_resp and deliver_sm_resp: the same */
	struct smpp_pdu p;

	lib.command_id = type;
	lib.sequence_number = 5;
	LIB_SET(lib.message_id, id);
	smpp_pdu_init(&p, type, 5);
	p.message_id = str_from_cstr(id);
	compare(type, &lib, &p);
	str_is(decoded.message_id, id);
}

static void test_submit_sm_resp(void **state)
{
	(void)state;
	message_id_resp_case(SMPP_SUBMIT_SM_RESP, "msg_0123456789abcdefghjkmnpqrs");
}

static void test_deliver_sm_resp(void **state)
{
	deliver_sm_resp_t lib = {0}; /* libsmpp34 holds only the empty message_id */
	struct smpp_pdu p;

	(void)state;
	lib.command_id = DELIVER_SM_RESP;
	lib.sequence_number = 6;
	smpp_pdu_init(&p, SMPP_DELIVER_SM_RESP, 6);
	compare(DELIVER_SM_RESP, &lib, &p);
	str_is(decoded.message_id, "");
}

/* -------------------------------------------------------- submit_multi */

static void test_submit_multi(void **state)
{
	submit_multi_t lib = {0};
	dad_t d;
	struct smpp_pdu p;
	const struct smpp_dest dests[] = {
	    {SMPP_DEST_SME, {1, 1, STR_LIT("15551230001")}, STR_NULL},
	    {SMPP_DEST_DL, {0, 0, STR_NULL}, STR_LIT("friends")},
	    {SMPP_DEST_SME, {2, 8, STR_LIT("5551230002")}, STR_NULL},
	};
	struct smpp_dest got;
	struct str raw;

	(void)state;
	lib.command_id = SUBMIT_MULTI;
	lib.sequence_number = 7;
	LIB_SET(lib.source_addr, "WARP");
	lib.source_addr_ton = 5;
	lib.number_of_dests = 3;
	for (size_t i = 3; i-- > 0;) { /* build_dad prepends too */
		memset(&d, 0, sizeof(d));
		d.dest_flag = dests[i].flag;
		if (dests[i].flag == SMPP_DEST_SME) {
			d.value.sme.dest_addr_ton = dests[i].sme.ton;
			d.value.sme.dest_addr_npi = dests[i].sme.npi;
			lib_set(d.value.sme.destination_addr, sizeof(d.value.sme.destination_addr),
				dests[i].sme.addr.p);
		} else {
			LIB_SET(d.value.dl_name, "friends");
		}
		assert_int_equal(build_dad(&lib.dest_addr_def, &d), 0);
	}
	lib.sm_length = 5;
	memcpy(lib.short_message, "hello", 5);
	lib_tlv_u16(&lib.tlv, TLVID_user_message_reference, 9);

	smpp_pdu_init(&p, SMPP_SUBMIT_MULTI, 7);
	p.source = (struct smpp_addr){5, 0, STR_LIT("WARP")};
	p.ndests = 3;
	p.dest_list = dests;
	p.short_message = STR_LIT("hello");
	p.tlv.has = SMPP_HAS_USER_MESSAGE_REFERENCE;
	p.tlv.user_message_reference = 9;
	compare(SUBMIT_MULTI, &lib, &p);

	assert_int_equal(decoded.ndests, 3);
	raw = decoded.dests;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(smpp_dest_next(&raw, &got), 0);
		assert_int_equal(got.flag, dests[i].flag);
		if (got.flag == SMPP_DEST_SME) {
			assert_int_equal(got.sme.ton, dests[i].sme.ton);
			assert_int_equal(got.sme.npi, dests[i].sme.npi);
			str_is(got.sme.addr, dests[i].sme.addr.p);
		} else {
			str_is(got.dl_name, "friends");
		}
	}
	assert_int_equal(smpp_dest_next(&raw, &got), SMPP_E_SHORT);
}

static void test_submit_multi_resp(void **state)
{
	submit_multi_resp_t lib = {0};
	udad_t u;
	struct smpp_pdu p;
	const struct smpp_unsuccess un[] = {
	    {{1, 1, STR_LIT("15551230001")}, SMPP_ESME_RINVDSTADR},
	    {{1, 1, STR_LIT("15551230002")}, SMPP_ESME_RSUBMITFAIL},
	};
	struct smpp_unsuccess got;
	struct str raw;

	(void)state;
	lib.command_id = SUBMIT_MULTI_RESP;
	lib.sequence_number = 8;
	LIB_SET(lib.message_id, "m1");
	lib.no_unsuccess = 2;
	for (size_t i = 2; i-- > 0;) {
		memset(&u, 0, sizeof(u));
		u.dest_addr_ton = 1;
		u.dest_addr_npi = 1;
		lib_set(u.destination_addr, sizeof(u.destination_addr), un[i].addr.addr.p);
		u.error_status_code = un[i].error_status_code;
		assert_int_equal(build_udad(&lib.unsuccess_smes, &u), 0);
	}
	smpp_pdu_init(&p, SMPP_SUBMIT_MULTI_RESP, 8);
	p.message_id = STR_LIT("m1");
	p.nunsuccess = 2;
	p.unsuccess_list = un;
	compare(SUBMIT_MULTI_RESP, &lib, &p);

	raw = decoded.unsuccess;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(smpp_unsuccess_next(&raw, &got), 0);
		str_is(got.addr.addr, un[i].addr.addr.p);
		assert_int_equal(got.error_status_code, un[i].error_status_code);
	}
	assert_int_equal(smpp_unsuccess_next(&raw, &got), SMPP_E_SHORT);
}

/* ---------------------------------------------------------- deliver_sm */

static const char dlr_text[] = "id:m1 sub:001 dlvrd:001 submit date:2612061500 "
			       "done date:2612061501 stat:DELIVRD err:000 text:hello";

static void test_deliver_sm_receipt(void **state)
{
	deliver_sm_t lib = {0};
	struct smpp_pdu p;
	const uint8_t neterr[3] = {3, 0x00, 0x2a};

	(void)state;
	lib.command_id = DELIVER_SM;
	lib.sequence_number = 9;
	lib.source_addr_ton = 1;
	lib.source_addr_npi = 1;
	LIB_SET(lib.source_addr, "15551234567");
	LIB_SET(lib.destination_addr, "WARP");
	lib.esm_class = 0x04;
	lib.sm_length = sizeof(dlr_text) - 1;
	memcpy(lib.short_message, dlr_text, sizeof(dlr_text) - 1);
	lib_tlv_u8(&lib.tlv, TLVID_message_state, 2);
	lib_tlv_octets(&lib.tlv, TLVID_network_error_code, neterr, 3);
	lib_tlv_octets(&lib.tlv, TLVID_receipted_message_id, "m1", 3);

	smpp_pdu_init(&p, SMPP_DELIVER_SM, 9);
	p.source = (struct smpp_addr){1, 1, STR_LIT("15551234567")};
	p.dest = (struct smpp_addr){0, 0, STR_LIT("WARP")};
	p.esm_class = 0x04;
	p.short_message = STR_LIT(dlr_text);
	p.tlv.has =
	    SMPP_HAS_RECEIPTED_MESSAGE_ID | SMPP_HAS_NETWORK_ERROR_CODE | SMPP_HAS_MESSAGE_STATE;
	p.tlv.receipted_message_id = STR_LIT("m1");
	p.tlv.network_error_type = 3;
	p.tlv.network_error_code = 0x2a;
	p.tlv.message_state = 2;
	compare(DELIVER_SM, &lib, &p);

	str_is(decoded.tlv.receipted_message_id, "m1");
	assert_int_equal(decoded.tlv.network_error_type, 3);
	assert_int_equal(decoded.tlv.network_error_code, 0x2a);
	assert_int_equal(decoded.tlv.message_state, 2);
	assert_int_equal(decoded.esm_class, 0x04);
}

/* ------------------------------------------------------------- data_sm */

static void test_data_sm_payload(void **state)
{
	data_sm_t lib = {0};
	struct smpp_pdu p;
	uint8_t payload[600];

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	lib.command_id = DATA_SM;
	lib.sequence_number = 10;
	lib.source_addr_ton = 1;
	lib.source_addr_npi = 1;
	LIB_SET(lib.source_addr, "15550001");
	lib.dest_addr_ton = 1;
	lib.dest_addr_npi = 1;
	LIB_SET(lib.destination_addr, "15550002");
	lib.registered_delivery = 1;
	lib.data_coding = 4;
	lib_tlv_octets(&lib.tlv, TLVID_message_payload, payload, sizeof(payload));
	lib_tlv_u16(&lib.tlv, TLVID_destination_port, 2948);
	lib_tlv_u16(&lib.tlv, TLVID_source_port, 9200);

	smpp_pdu_init(&p, SMPP_DATA_SM, 10);
	p.source = (struct smpp_addr){1, 1, STR_LIT("15550001")};
	p.dest = (struct smpp_addr){1, 1, STR_LIT("15550002")};
	p.registered_delivery = 1;
	p.data_coding = 4;
	p.tlv.has = SMPP_HAS_SOURCE_PORT | SMPP_HAS_DESTINATION_PORT | SMPP_HAS_MESSAGE_PAYLOAD;
	p.tlv.source_port = 9200;
	p.tlv.destination_port = 2948;
	p.tlv.message_payload = (struct str){(const char *)payload, sizeof(payload)};
	compare(DATA_SM, &lib, &p);

	assert_int_equal(decoded.tlv.message_payload.len, sizeof(payload));
	assert_memory_equal(decoded.tlv.message_payload.p, payload, sizeof(payload));
	assert_null(decoded.short_message.p);
}

static void test_data_sm_resp(void **state)
{
	data_sm_resp_t lib = {0}; /* libsmpp34 carries no TLVs on data_sm_resp */
	struct smpp_pdu p;

	(void)state;
	lib.command_id = DATA_SM_RESP;
	lib.sequence_number = 11;
	LIB_SET(lib.message_id, "m2");
	smpp_pdu_init(&p, SMPP_DATA_SM_RESP, 11);
	p.message_id = STR_LIT("m2");
	compare(DATA_SM_RESP, &lib, &p);
	str_is(decoded.message_id, "m2");
}

/* ------------------------------------------- query, cancel, replace, alert */

static void test_query_sm(void **state)
{
	query_sm_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = QUERY_SM;
	lib.sequence_number = 12;
	LIB_SET(lib.message_id, "m3");
	lib.source_addr_ton = 1;
	lib.source_addr_npi = 1;
	LIB_SET(lib.source_addr, "15550001");
	smpp_pdu_init(&p, SMPP_QUERY_SM, 12);
	p.message_id = STR_LIT("m3");
	p.source = (struct smpp_addr){1, 1, STR_LIT("15550001")};
	compare(QUERY_SM, &lib, &p);
	str_is(decoded.message_id, "m3");
	str_is(decoded.source.addr, "15550001");
}

static void test_query_sm_resp(void **state)
{
	query_sm_resp_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = QUERY_SM_RESP;
	lib.sequence_number = 13;
	LIB_SET(lib.message_id, "m3");
	LIB_SET(lib.final_date, "261206150102304+");
	lib.message_state = 2;
	lib.error_code = 7;
	smpp_pdu_init(&p, SMPP_QUERY_SM_RESP, 13);
	p.message_id = STR_LIT("m3");
	p.final_date = STR_LIT("261206150102304+");
	p.message_state = 2;
	p.error_code = 7;
	compare(QUERY_SM_RESP, &lib, &p);
	str_is(decoded.final_date, "261206150102304+");
	assert_int_equal(decoded.message_state, 2);
	assert_int_equal(decoded.error_code, 7);
}

static void test_cancel_sm(void **state)
{
	cancel_sm_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = CANCEL_SM;
	lib.sequence_number = 14;
	LIB_SET(lib.message_id, "m4");
	LIB_SET(lib.source_addr, "WARP");
	lib.dest_addr_ton = 1;
	LIB_SET(lib.destination_addr, "15550002");
	smpp_pdu_init(&p, SMPP_CANCEL_SM, 14);
	p.message_id = STR_LIT("m4");
	p.source = (struct smpp_addr){0, 0, STR_LIT("WARP")};
	p.dest = (struct smpp_addr){1, 0, STR_LIT("15550002")};
	compare(CANCEL_SM, &lib, &p);
	str_is(decoded.message_id, "m4");
	str_is(decoded.dest.addr, "15550002");
}

static void test_replace_sm(void **state)
{
	replace_sm_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = REPLACE_SM;
	lib.sequence_number = 15;
	LIB_SET(lib.message_id, "m5");
	LIB_SET(lib.source_addr, "WARP");
	LIB_SET(lib.validity_period, "000001000000000R");
	lib.registered_delivery = 1;
	lib.sm_length = 8;
	memcpy(lib.short_message, "new text", 8);
	smpp_pdu_init(&p, SMPP_REPLACE_SM, 15);
	p.message_id = STR_LIT("m5");
	p.source = (struct smpp_addr){0, 0, STR_LIT("WARP")};
	p.validity_period = STR_LIT("000001000000000R");
	p.registered_delivery = 1;
	p.short_message = STR_LIT("new text");
	compare(REPLACE_SM, &lib, &p);
	str_is(decoded.short_message, "new text");
	str_is(decoded.validity_period, "000001000000000R");
}

static void test_alert_notification(void **state)
{
	alert_notification_t lib = {0};
	struct smpp_pdu p;

	(void)state;
	lib.command_id = ALERT_NOTIFICATION;
	lib.sequence_number = 16;
	lib.source_addr_ton = 1;
	lib.source_addr_npi = 1;
	LIB_SET(lib.source_addr, "15550001");
	lib.esme_addr_ton = 1;
	lib.esme_addr_npi = 1;
	LIB_SET(lib.esme_addr, "15550009");
	lib_tlv_u8(&lib.tlv, TLVID_ms_availability_status, 1);
	smpp_pdu_init(&p, SMPP_ALERT_NOTIFICATION, 16);
	p.source = (struct smpp_addr){1, 1, STR_LIT("15550001")};
	p.esme = (struct smpp_addr){1, 1, STR_LIT("15550009")};
	p.tlv.nother = 1;
	p.tlv.other[0] = (struct smpp_tlv){TLVID_ms_availability_status, STR_LIT("\x01")};
	compare(ALERT_NOTIFICATION, &lib, &p);
	str_is(decoded.esme.addr, "15550009");
	assert_int_equal(decoded.tlv.other[0].tag, TLVID_ms_availability_status);
}

int main(void)
{
	static const struct smpp34_memory_functions mf = {lib_malloc, lib_realloc, lib_free};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_bind_transmitter, lib_teardown),
	    cmocka_unit_test_teardown(test_bind_receiver, lib_teardown),
	    cmocka_unit_test_teardown(test_bind_transceiver, lib_teardown),
	    cmocka_unit_test_teardown(test_bind_transmitter_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_bind_receiver_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_bind_transceiver_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_outbind, lib_teardown),
	    cmocka_unit_test_teardown(test_header_only_pdus, lib_teardown),
	    cmocka_unit_test_teardown(test_submit_sm, lib_teardown),
	    cmocka_unit_test_teardown(test_submit_sm_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_deliver_sm_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_submit_multi, lib_teardown),
	    cmocka_unit_test_teardown(test_submit_multi_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_deliver_sm_receipt, lib_teardown),
	    cmocka_unit_test_teardown(test_data_sm_payload, lib_teardown),
	    cmocka_unit_test_teardown(test_data_sm_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_query_sm, lib_teardown),
	    cmocka_unit_test_teardown(test_query_sm_resp, lib_teardown),
	    cmocka_unit_test_teardown(test_cancel_sm, lib_teardown),
	    cmocka_unit_test_teardown(test_replace_sm, lib_teardown),
	    cmocka_unit_test_teardown(test_alert_notification, lib_teardown),
	};

	smpp34_set_memory_functions(&mf);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
