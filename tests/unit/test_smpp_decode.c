/*
 * test_smpp_decode.c — src/smpp on malformed input: each fault of framing,
 * header, C-Octet String, short_message, submit_multi list and TLV stream is
 * reported with the error that names the command_status SMPP 3.4 §5.1.3
 * gives for it, the header survives a body fault so the answer carries the
 * PDU's sequence_number, and encode refuses what decode would refuse.
 * PDUs are built octet by octet here, not with the codec under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "smpp/smpp.h"

/* ------------------------------------------------------- a PDU by hand */

struct pdu_buf {
	uint8_t p[SMPP_PDU_MAX_LEN + 64];
	size_t n;
};

static struct pdu_buf b;

static void b_u8(uint8_t v)
{
	b.p[b.n++] = v;
}

static void b_u16(uint16_t v)
{
	b_u8((uint8_t)(v >> 8));
	b_u8((uint8_t)v);
}

static void b_u32(uint32_t v)
{
	b_u16((uint16_t)(v >> 16));
	b_u16((uint16_t)v);
}

static void b_raw(const void *p, size_t n)
{
	memcpy(b.p + b.n, p, n);
	b.n += n;
}

/* s and its NUL */
static void b_cstr(const char *s)
{
	b_raw(s, strlen(s) + 1);
}

static void b_repeat(char c, size_t n)
{
	memset(b.p + b.n, c, n);
	b.n += n;
}

static void b_addr(uint8_t ton, uint8_t npi, const char *addr)
{
	b_u8(ton);
	b_u8(npi);
	b_cstr(addr);
}

static void b_header(uint32_t command_id, uint32_t seq)
{
	b.n = 0;
	b_u32(0); /* command_length, set by b_len */
	b_u32(command_id);
	b_u32(0);
	b_u32(seq);
}

static size_t b_len(void)
{
	uint32_t n = (uint32_t)b.n;

	b.p[0] = (uint8_t)(n >> 24);
	b.p[1] = (uint8_t)(n >> 16);
	b.p[2] = (uint8_t)(n >> 8);
	b.p[3] = (uint8_t)n;
	return b.n;
}

static void b_tlv(uint16_t tag, uint16_t len, const void *v)
{
	b_u16(tag);
	b_u16(len);
	b_raw(v, len);
}

/* submit_sm's fields up to data_coding, with the given addresses and
 * validity_period; the caller writes sm_default_msg_id, sm_length on. */
static void b_submit_head(const char *src, const char *dst, const char *validity)
{
	b_header(SMPP_SUBMIT_SM, 42);
	b_cstr("");
	b_addr(1, 1, src);
	b_addr(1, 1, dst);
	b_raw("\0\0\0", 3); /* esm_class, protocol_id, priority_flag */
	b_cstr("");
	b_cstr(validity);
	b_raw("\1\0\0", 3); /* registered_delivery, replace_if_present, data_coding */
}

/* A well-formed submit_sm with "hi"; TLVs may follow. */
static void b_submit(void)
{
	b_submit_head("15550001", "15550002", "");
	b_u8(0);
	b_u8(2);
	b_raw("hi", 2);
}

static void b_bind(void)
{
	b_header(SMPP_BIND_TRANSMITTER, 7);
}

/* --------------------------------------------------------- assertions */

static struct smpp_pdu pdu;

/* Decoding b fails with err, which names status (answered with a
 * generic_nack when nack); out of the header the sequence_number is kept. */
static void decode_fails(int err, uint32_t status, bool nack)
{
	assert_int_equal(smpp_pdu_decode(b.p, b.n, &pdu), err);
	assert_int_equal(pdu.err, err);
	assert_int_equal(smpp_err_status(err), status);
	assert_int_equal(smpp_err_nack(err), nack);
}

/* The answer to the PDU just decoded: its own _resp or generic_nack. */
static void reply_is(uint32_t command_id, uint32_t status)
{
	struct smpp_pdu r;
	uint8_t out[64];

	assert_int_equal(smpp_pdu_reply_error(&pdu, pdu.err, &r), 0);
	assert_int_equal(r.command_id, command_id);
	assert_int_equal(r.command_status, status);
	assert_int_equal(r.sequence_number, pdu.sequence_number);
	assert_true(smpp_pdu_encode(&r, out, sizeof(out)) > 0);
}

/* ------------------------------------------------------------ framing */

static void test_frame_len_needs_four_octets(void **state)
{
	uint32_t n;

	(void)state;
	assert_int_equal(smpp_frame_len((const uint8_t *)"\0\0\0", 3, &n), SMPP_E_SHORT);
}

static void test_frame_len_below_a_header(void **state)
{
	uint32_t n;

	(void)state;
	b_header(SMPP_ENQUIRE_LINK, 1);
	b.p[3] = 15;
	assert_int_equal(smpp_frame_len(b.p, 4, &n), SMPP_E_CMDLEN);
	assert_int_equal(n, 15);
	assert_int_equal(smpp_err_status(SMPP_E_CMDLEN), SMPP_ESME_RINVCMDLEN);
	assert_true(smpp_err_nack(SMPP_E_CMDLEN));
}

static void test_frame_len_over_the_limit(void **state)
{
	const uint8_t max[4] = {0x00, 0x01, 0x00, 0x00}, over[4] = {0x00, 0x01, 0x00, 0x01};
	const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
	uint32_t n;

	(void)state;
	assert_int_equal(smpp_frame_len(max, 4, &n), 0);
	assert_int_equal(n, SMPP_PDU_MAX_LEN);
	assert_int_equal(smpp_frame_len(over, 4, &n), SMPP_E_CMDLEN);
	assert_int_equal(smpp_frame_len(huge, 4, &n), SMPP_E_CMDLEN);
}

/* ------------------------------------------------------------- header */

static void test_fewer_octets_than_a_header(void **state)
{
	struct smpp_pdu r;

	(void)state;
	b_header(SMPP_ENQUIRE_LINK, 1);
	b.n = 12;
	decode_fails(SMPP_E_SHORT, SMPP_ESME_RINVCMDLEN, true);
	/* no sequence_number to answer with */
	assert_int_equal(smpp_pdu_reply_error(&pdu, pdu.err, &r), SMPP_E_SHORT);
}

static void test_command_length_not_the_pdu_length(void **state)
{
	(void)state;
	b_header(SMPP_ENQUIRE_LINK, 9);
	b_len();
	b_u32(0); /* four octets beyond command_length */
	decode_fails(SMPP_E_CMDLEN, SMPP_ESME_RINVCMDLEN, true);
	assert_int_equal(pdu.sequence_number, 9);
	reply_is(SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDLEN);
}

static void test_pdu_over_the_limit(void **state)
{
	(void)state;
	b_submit();
	b_tlv(0x1400, 0, "");
	b.n -= 2; /* the TLV's length, to fill the PDU to one past the limit */
	b_u16((uint16_t)(SMPP_PDU_MAX_LEN + 1 - (b.n + 2)));
	b_repeat('x', SMPP_PDU_MAX_LEN + 1 - b.n);
	assert_int_equal(b_len(), SMPP_PDU_MAX_LEN + 1);
	decode_fails(SMPP_E_CMDLEN, SMPP_ESME_RINVCMDLEN, true);
}

static void test_unknown_command_id(void **state)
{
	(void)state;
	b_header(0x00000104u, 11);
	b_len();
	decode_fails(SMPP_E_CMDID, SMPP_ESME_RINVCMDID, true);
	assert_int_equal(pdu.command_id, 0x00000104u);
	reply_is(SMPP_GENERIC_NACK, SMPP_ESME_RINVCMDID);
}

/* ---------------------------------------------------- C-Octet Strings */

static void test_system_id_without_its_nul(void **state)
{
	(void)state;
	b_bind();
	b_repeat('a', SMPP_SYSTEM_ID_MAX); /* 16 octets, no NUL among them */
	b_cstr("pw");
	b_cstr("");
	b_u8(0x34);
	b_addr(0, 0, "");
	b_len();
	decode_fails(SMPP_E_SYSTEM_ID, SMPP_ESME_RINVSYSID, false);
	assert_int_equal(pdu.sequence_number, 7);
	reply_is(SMPP_BIND_TRANSMITTER_RESP, SMPP_ESME_RINVSYSID);
}

static void test_system_id_of_fifteen_is_the_maximum(void **state)
{
	(void)state;
	b_bind();
	b_repeat('a', SMPP_SYSTEM_ID_MAX - 1);
	b_u8(0);
	b_cstr("pw");
	b_cstr("");
	b_u8(0x34);
	b_addr(0, 0, "");
	b_len();
	assert_int_equal(smpp_pdu_decode(b.p, b.n, &pdu), 0);
	assert_int_equal(pdu.system_id.len, SMPP_SYSTEM_ID_MAX - 1);
}

static void test_string_cut_by_the_end_of_the_pdu(void **state)
{
	(void)state;
	b_bind();
	b_raw("warp", 4); /* the PDU ends before the NUL */
	b_len();
	decode_fails(SMPP_E_BODY_SHORT, SMPP_ESME_RINVCMDLEN, false);
	reply_is(SMPP_BIND_TRANSMITTER_RESP, SMPP_ESME_RINVCMDLEN);
}

static void test_password_over_long(void **state)
{
	(void)state;
	b_bind();
	b_cstr("warp");
	b_cstr("ninechars"); /* 9 + NUL: one past SMPP_PASSWORD_MAX */
	b_cstr("");
	b_u8(0x34);
	b_addr(0, 0, "");
	b_len();
	decode_fails(SMPP_E_PASSWORD, SMPP_ESME_RINVPASWD, false);
}

static void test_mandatory_field_missing(void **state)
{
	(void)state;
	b_bind();
	b_cstr("warp");
	b_cstr("pw");
	b_cstr("");
	b_u8(0x34); /* addr_ton, addr_npi and address_range missing */
	b_len();
	decode_fails(SMPP_E_BODY_SHORT, SMPP_ESME_RINVCMDLEN, false);
}

static void test_source_addr_over_long(void **state)
{
	(void)state;
	b_submit_head("155500000000000000001", "15550002", ""); /* 21 digits */
	b_raw("\0\0", 2);					/* sm_default_msg_id, sm_length */
	b_len();
	decode_fails(SMPP_E_SOURCE_ADDR, SMPP_ESME_RINVSRCADR, false);
	reply_is(SMPP_SUBMIT_SM_RESP, SMPP_ESME_RINVSRCADR);
}

static void test_destination_addr_over_long(void **state)
{
	(void)state;
	b_submit_head("15550001", "155500000000000000002", "");
	b_raw("\0\0", 2); /* sm_default_msg_id, sm_length */
	b_len();
	decode_fails(SMPP_E_DEST_ADDR, SMPP_ESME_RINVDSTADR, false);
}

static void test_data_sm_addresses_are_wider(void **state)
{
	char addr[SMPP_ADDR_WIDE_MAX + 1];

	(void)state;
	memset(addr, '1', SMPP_ADDR_WIDE_MAX - 1);
	addr[SMPP_ADDR_WIDE_MAX - 1] = '\0';
	b_header(SMPP_DATA_SM, 3);
	b_cstr("");
	b_addr(1, 1, addr); /* 64 digits: the maximum */
	b_addr(1, 1, "15550002");
	b_raw("\0\0\0", 3); /* esm_class, registered_delivery, data_coding */
	b_len();
	assert_int_equal(smpp_pdu_decode(b.p, b.n, &pdu), 0);
	assert_int_equal(pdu.source.addr.len, SMPP_ADDR_WIDE_MAX - 1);

	memset(addr, '1', SMPP_ADDR_WIDE_MAX);
	addr[SMPP_ADDR_WIDE_MAX] = '\0';
	b_header(SMPP_DATA_SM, 3);
	b_cstr("");
	b_addr(1, 1, addr); /* 65 digits */
	b_addr(1, 1, "15550002");
	b_raw("\0\0\0", 3); /* esm_class, registered_delivery, data_coding */
	b_len();
	decode_fails(SMPP_E_SOURCE_ADDR, SMPP_ESME_RINVSRCADR, false);
}

static void test_validity_period_neither_empty_nor_sixteen(void **state)
{
	(void)state;
	b_submit_head("15550001", "15550002", "2612061500");
	b_raw("\0\0", 2); /* sm_default_msg_id, sm_length */
	b_len();
	decode_fails(SMPP_E_VALIDITY, SMPP_ESME_RINVEXPIRY, false);
}

/* ------------------------------------------------------ short_message */

static void test_sm_length_over_254(void **state)
{
	(void)state;
	b_submit_head("15550001", "15550002", "");
	b_u8(0);
	b_u8(255);
	b_repeat('x', 255);
	b_len();
	decode_fails(SMPP_E_SM_LENGTH, SMPP_ESME_RINVMSGLEN, false);
}

static void test_sm_length_past_the_end(void **state)
{
	(void)state;
	b_submit_head("15550001", "15550002", "");
	b_u8(0);
	b_u8(10);
	b_raw("short", 5);
	b_len();
	decode_fails(SMPP_E_SM_LENGTH, SMPP_ESME_RINVMSGLEN, false);
}

/* -------------------------------------------------------- submit_multi */

static void b_multi_head(uint8_t ndests)
{
	b_header(SMPP_SUBMIT_MULTI, 5);
	b_cstr("");
	b_addr(1, 1, "15550001");
	b_u8(ndests);
}

static void test_submit_multi_without_dests(void **state)
{
	(void)state;
	b_multi_head(0);
	b_len();
	decode_fails(SMPP_E_NUM_DESTS, SMPP_ESME_RINVNUMDESTS, false);
	reply_is(SMPP_SUBMIT_MULTI_RESP, SMPP_ESME_RINVNUMDESTS);
}

static void test_submit_multi_bad_dest_flag(void **state)
{
	(void)state;
	b_multi_head(1);
	b_u8(3);
	b_cstr("x");
	b_len();
	decode_fails(SMPP_E_DEST_FLAG, SMPP_ESME_RINVDESTFLAG, false);
}

static void test_submit_multi_dl_name_over_long(void **state)
{
	(void)state;
	b_multi_head(1);
	b_u8(SMPP_DEST_DL);
	b_repeat('d', SMPP_ADDR_MAX);
	b_len();
	decode_fails(SMPP_E_DL_NAME, SMPP_ESME_RINVDLNAME, false);
}

/* --------------------------------------------------------------- TLVs */

static void test_tlv_value_past_the_pdu(void **state)
{
	(void)state;
	b_submit();
	b_u16(SMPP_TLV_MESSAGE_PAYLOAD);
	b_u16(100); /* 100 octets announced, 4 follow */
	b_raw("abcd", 4);
	b_len();
	decode_fails(SMPP_E_TLV_STREAM, SMPP_ESME_RINVOPTPARSTREAM, false);
	reply_is(SMPP_SUBMIT_SM_RESP, SMPP_ESME_RINVOPTPARSTREAM);
}

static void test_tlv_header_cut(void **state)
{
	(void)state;
	b_submit();
	b_u16(SMPP_TLV_SAR_MSG_REF_NUM);
	b_u8(0); /* three octets of a four-octet tag and length */
	b_len();
	decode_fails(SMPP_E_TLV_STREAM, SMPP_ESME_RINVOPTPARSTREAM, false);
}

static void test_known_tlv_of_the_wrong_length(void **state)
{
	(void)state;
	b_submit();
	b_tlv(SMPP_TLV_SAR_MSG_REF_NUM, 1, "\x01");
	b_len();
	decode_fails(SMPP_E_TLV_LEN, SMPP_ESME_RINVPARLEN, false);
}

static void test_known_tlv_twice(void **state)
{
	(void)state;
	b_submit();
	b_tlv(SMPP_TLV_SAR_TOTAL_SEGMENTS, 1, "\x02");
	b_tlv(SMPP_TLV_SAR_TOTAL_SEGMENTS, 1, "\x03");
	b_len();
	decode_fails(SMPP_E_TLV_STREAM, SMPP_ESME_RINVOPTPARSTREAM, false);
}

static void test_too_many_unknown_tlvs(void **state)
{
	(void)state;
	b_submit();
	for (uint16_t i = 0; i <= SMPP_TLV_OTHER_MAX; i++)
		b_tlv((uint16_t)(0x1400 + i), 1, "v");
	b_len();
	decode_fails(SMPP_E_TLV_TOO_MANY, SMPP_ESME_RINVOPTPARSTREAM, false);
}

static void test_receipted_message_id_without_its_nul(void **state)
{
	(void)state;
	b_submit();
	b_tlv(SMPP_TLV_RECEIPTED_MESSAGE_ID, 3, "abc");
	b_len();
	assert_int_equal(smpp_pdu_decode(b.p, b.n, &pdu), 0);
	assert_int_equal(pdu.tlv.receipted_message_id.len, 3);
	assert_memory_equal(pdu.tlv.receipted_message_id.p, "abc", 3);
}

static void test_receipted_message_id_over_long(void **state)
{
	uint8_t id[SMPP_MESSAGE_ID_MAX];

	(void)state;
	memset(id, '7', sizeof(id)); /* 65 characters, no NUL */
	b_submit();
	b_tlv(SMPP_TLV_RECEIPTED_MESSAGE_ID, sizeof(id), id);
	b_len();
	decode_fails(SMPP_E_TLV_LEN, SMPP_ESME_RINVPARLEN, false);
}

/* ---------------------------------------------------------- responses */

static void test_error_response_without_body(void **state)
{
	(void)state;
	b_header(SMPP_SUBMIT_SM_RESP, 8);
	b.p[11] = SMPP_ESME_RTHROTTLED;
	b_len();
	assert_int_equal(smpp_pdu_decode(b.p, b.n, &pdu), 0);
	assert_int_equal(pdu.command_status, SMPP_ESME_RTHROTTLED);
	assert_null(pdu.message_id.p);
}

static void test_malformed_response_is_not_answered(void **state)
{
	struct smpp_pdu r;

	(void)state;
	b_header(SMPP_SUBMIT_SM_RESP, 8);
	b_raw("abc", 3); /* message_id without its NUL */
	b_len();
	decode_fails(SMPP_E_BODY_SHORT, SMPP_ESME_RINVCMDLEN, false);
	assert_int_equal(smpp_pdu_reply_error(&pdu, pdu.err, &r), SMPP_E_CMDID);
}

static void test_outbind_fault_is_answered_with_generic_nack(void **state)
{
	(void)state;
	b_header(SMPP_OUTBIND, 4);
	b_repeat('s', SMPP_SYSTEM_ID_MAX);
	b_len();
	decode_fails(SMPP_E_SYSTEM_ID, SMPP_ESME_RINVSYSID, false);
	reply_is(SMPP_GENERIC_NACK, SMPP_ESME_RINVSYSID); /* outbind has no _resp */
}

/* ------------------------------------------------------------- encode */

static void test_encode_refuses_what_decode_would(void **state)
{
	struct smpp_pdu p;
	uint8_t out[512];

	(void)state;
	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	p.source.addr = STR_LIT("155500000000000000001");
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_SOURCE_ADDR);

	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	p.dest.addr = (struct str){"1555\0"
				   "0002",
				   9}; /* the peer would read "1555" */
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_DEST_ADDR);

	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	p.validity_period = STR_LIT("2612061500");
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_VALIDITY);

	smpp_pdu_init(&p, SMPP_BIND_TRANSCEIVER, 1);
	p.password = STR_LIT("ninechars");
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_PASSWORD);

	smpp_pdu_init(&p, SMPP_SUBMIT_MULTI, 1);
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_NUM_DESTS);

	smpp_pdu_init(&p, 0x00000104u, 1);
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_CMDID);
}

static void test_encode_into_a_small_buffer(void **state)
{
	struct smpp_pdu p;
	uint8_t out[40];

	(void)state;
	smpp_pdu_init(&p, SMPP_SUBMIT_SM, 1);
	p.short_message = STR_LIT("a text longer than the buffer it is written to");
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_NO_SPACE);
	smpp_pdu_init(&p, SMPP_ENQUIRE_LINK, 1);
	assert_int_equal(smpp_pdu_encode(&p, out, SMPP_HEADER_LEN - 1), SMPP_E_NO_SPACE);
	assert_int_equal(smpp_pdu_encode(&p, out, SMPP_HEADER_LEN), SMPP_HEADER_LEN);
}

static void test_encode_over_the_pdu_limit(void **state)
{
	static uint8_t big[SMPP_PDU_MAX_LEN], out[SMPP_PDU_MAX_LEN + 256];
	struct smpp_pdu p;

	(void)state;
	smpp_pdu_init(&p, SMPP_DATA_SM, 1);
	p.tlv.has = SMPP_HAS_MESSAGE_PAYLOAD;
	p.tlv.message_payload = (struct str){(const char *)big, UINT16_MAX};
	assert_int_equal(smpp_pdu_encode(&p, out, sizeof(out)), SMPP_E_CMDLEN);
	p.tlv.message_payload.len = SMPP_PDU_MAX_LEN - 64;
	assert_true(smpp_pdu_encode(&p, out, sizeof(out)) > 0);
	assert_int_equal(smpp_pdu_decode(out, (size_t)smpp_pdu_encode(&p, out, sizeof(out)), &pdu),
			 0);
	assert_int_equal(pdu.tlv.message_payload.len, SMPP_PDU_MAX_LEN - 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_len_needs_four_octets),
	    cmocka_unit_test(test_frame_len_below_a_header),
	    cmocka_unit_test(test_frame_len_over_the_limit),
	    cmocka_unit_test(test_fewer_octets_than_a_header),
	    cmocka_unit_test(test_command_length_not_the_pdu_length),
	    cmocka_unit_test(test_pdu_over_the_limit),
	    cmocka_unit_test(test_unknown_command_id),
	    cmocka_unit_test(test_system_id_without_its_nul),
	    cmocka_unit_test(test_system_id_of_fifteen_is_the_maximum),
	    cmocka_unit_test(test_string_cut_by_the_end_of_the_pdu),
	    cmocka_unit_test(test_password_over_long),
	    cmocka_unit_test(test_mandatory_field_missing),
	    cmocka_unit_test(test_source_addr_over_long),
	    cmocka_unit_test(test_destination_addr_over_long),
	    cmocka_unit_test(test_data_sm_addresses_are_wider),
	    cmocka_unit_test(test_validity_period_neither_empty_nor_sixteen),
	    cmocka_unit_test(test_sm_length_over_254),
	    cmocka_unit_test(test_sm_length_past_the_end),
	    cmocka_unit_test(test_submit_multi_without_dests),
	    cmocka_unit_test(test_submit_multi_bad_dest_flag),
	    cmocka_unit_test(test_submit_multi_dl_name_over_long),
	    cmocka_unit_test(test_tlv_value_past_the_pdu),
	    cmocka_unit_test(test_tlv_header_cut),
	    cmocka_unit_test(test_known_tlv_of_the_wrong_length),
	    cmocka_unit_test(test_known_tlv_twice),
	    cmocka_unit_test(test_too_many_unknown_tlvs),
	    cmocka_unit_test(test_receipted_message_id_without_its_nul),
	    cmocka_unit_test(test_receipted_message_id_over_long),
	    cmocka_unit_test(test_error_response_without_body),
	    cmocka_unit_test(test_malformed_response_is_not_answered),
	    cmocka_unit_test(test_outbind_fault_is_answered_with_generic_nack),
	    cmocka_unit_test(test_encode_refuses_what_decode_would),
	    cmocka_unit_test(test_encode_into_a_small_buffer),
	    cmocka_unit_test(test_encode_over_the_pdu_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
