/*
 * test_sip_decide.c — src/sip/decide.c: what the proxy does with a received
 * request, each case given as the facts the proxy gathers and the verdict it
 * must carry out — transaction matches, loops, hop counts, in-dialog routing
 * (403, 404, 481, forward) and out-of-dialog answers (OPTIONS, 483, 405, a
 * new call), and that an ACK is never answered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "sip/decide.h"

static struct sip_req_verdict request(struct sip_req_facts f)
{
	struct sip_req_verdict v;
	sip_decide_request(&f, &v);
	return v;
}

static struct sip_req_verdict dialog(struct sip_dialog_facts f)
{
	struct sip_req_verdict v;
	sip_decide_in_dialog(&f, &v);
	return v;
}

static struct sip_req_verdict outside(struct sip_ood_facts f)
{
	struct sip_req_verdict v;
	sip_decide_out_of_dialog(&f, &v);
	return v;
}

static void assert_reply(struct sip_req_verdict v, int code, const char *tag)
{
	assert_int_equal(v.action, SIP_REQ_REPLY);
	assert_int_equal(v.code, code);
	assert_string_equal(v.tag, tag);
}

static void test_transactions_come_first(void **state)
{
	(void)state;
	/* an ACK its INVITE's server transaction takes, even when looped */
	assert_int_equal(request((struct sip_req_facts){
				     .method = SIP_METHOD_ACK, .server_tx = true, .loop = true})
			     .action,
			 SIP_REQ_ACK_TO_TX);
	/* the ACK of a stateless final of ours goes nowhere */
	assert_int_equal(request((struct sip_req_facts){
				     .method = SIP_METHOD_ACK, .ack_ours = true, .to_tag = true})
			     .action,
			 SIP_REQ_ABSORB);
	/* a retransmitted INVITE, BYE or CANCEL is answered by its transaction */
	assert_int_equal(
	    request((struct sip_req_facts){.method = SIP_METHOD_INVITE, .server_tx = true}).action,
	    SIP_REQ_RETRANSMIT);
	assert_int_equal(
	    request((struct sip_req_facts){.method = SIP_METHOD_CANCEL, .server_tx = true}).action,
	    SIP_REQ_RETRANSMIT);
	/* a new CANCEL goes to its INVITE: hop by hop, no loop or hop check */
	assert_int_equal(request((struct sip_req_facts){
				     .method = SIP_METHOD_CANCEL, .loop = true, .max_forwards = 0})
			     .action,
			 SIP_REQ_CANCEL);
}

static void test_loops_and_hops(void **state)
{
	(void)state;
	assert_reply(request((struct sip_req_facts){
			 .method = SIP_METHOD_INVITE, .loop = true, .max_forwards = 70}),
		     482, "l482");
	/* in a dialog with no hops left: 483 */
	assert_reply(request((struct sip_req_facts){.method = SIP_METHOD_BYE, .to_tag = true}), 483,
		     "m483");
	/* refusing an ACK is dropping it (§17): loop or hops */
	assert_int_equal(
	    request((struct sip_req_facts){.method = SIP_METHOD_ACK, .loop = true}).action,
	    SIP_REQ_ABSORB);
	assert_int_equal(
	    request((struct sip_req_facts){.method = SIP_METHOD_ACK, .to_tag = true}).action,
	    SIP_REQ_ABSORB);
	assert_int_equal(request((struct sip_req_facts){
				     .method = SIP_METHOD_BYE, .to_tag = true, .max_forwards = 1})
			     .action,
			 SIP_REQ_IN_DIALOG);
	/* out of a dialog Max-Forwards 0 is the next step's (OPTIONS is ours) */
	assert_int_equal(
	    request((struct sip_req_facts){.method = SIP_METHOD_OPTIONS, .max_forwards = 0}).action,
	    SIP_REQ_OUT_OF_DIALOG);
}

static void test_in_dialog_routing(void **state)
{
	(void)state;
	/* neither a Route of ours nor our Request-URI: not ours to route */
	assert_reply(dialog((struct sip_dialog_facts){.method = SIP_METHOD_BYE, .next_hop = true}),
		     403, "d403");
	assert_reply(dialog((struct sip_dialog_facts){.method = SIP_METHOD_BYE, .routes_ours = 1}),
		     404, "d404");
	assert_reply(dialog((struct sip_dialog_facts){.method = SIP_METHOD_INFO,
						      .addressed_to_us = true,
						      .next_hop = true,
						      .stale_contact = true}),
		     481, "t481");
	/* the call is held: its hidden Contact is not stale */
	assert_int_equal(dialog((struct sip_dialog_facts){.method = SIP_METHOD_BYE,
							  .addressed_to_us = true,
							  .next_hop = true,
							  .call = true,
							  .stale_contact = true})
			     .action,
			 SIP_REQ_FORWARD);
	/* loose routing with no call of ours (a dialog we only record-route) */
	assert_int_equal(dialog((struct sip_dialog_facts){.method = SIP_METHOD_UPDATE,
							  .routes_ours = 2,
							  .next_hop = true})
			     .action,
			 SIP_REQ_FORWARD);
	/* an in-dialog ACK that cannot be routed is dropped, not answered */
	assert_int_equal(dialog((struct sip_dialog_facts){.method = SIP_METHOD_ACK}).action,
			 SIP_REQ_ABSORB);
}

static void test_out_of_dialog(void **state)
{
	struct sip_req_verdict v;
	(void)state;
	assert_int_equal(
	    outside((struct sip_ood_facts){.method = SIP_METHOD_OPTIONS, .max_forwards = 0}).action,
	    SIP_REQ_OPTIONS);
	assert_int_equal(outside((struct sip_ood_facts){.method = SIP_METHOD_OPTIONS,
							.max_forwards = 70,
							.addressed_to_us = true})
			     .action,
			 SIP_REQ_OPTIONS);
	assert_int_equal(
	    outside((struct sip_ood_facts){.method = SIP_METHOD_INVITE, .max_forwards = 70}).action,
	    SIP_REQ_INVITE);
	assert_reply(outside((struct sip_ood_facts){.method = SIP_METHOD_INVITE}), 483, "m483");
	/* an OPTIONS for someone else and every other method: 405 with Allow */
	v = outside((struct sip_ood_facts){.method = SIP_METHOD_OPTIONS, .max_forwards = 70});
	assert_reply(v, 405, "n405");
	assert_true(v.allow);
	assert_reply(outside((struct sip_ood_facts){.method = SIP_METHOD_BYE, .max_forwards = 70}),
		     405, "n405");
	assert_int_equal(
	    outside((struct sip_ood_facts){.method = SIP_METHOD_ACK, .max_forwards = 70}).action,
	    SIP_REQ_ABSORB);
	/* REGISTER: for our domain to the registrar, else not ours to forward */
	assert_int_equal(outside((struct sip_ood_facts){.method = SIP_METHOD_REGISTER,
							.max_forwards = 70,
							.addressed_to_us = true})
			     .action,
			 SIP_REQ_REGISTER);
	assert_reply(
	    outside((struct sip_ood_facts){.method = SIP_METHOD_REGISTER, .max_forwards = 70}), 404,
	    "g404");
	assert_reply(
	    outside((struct sip_ood_facts){.method = SIP_METHOD_REGISTER, .addressed_to_us = true}),
	    483, "m483");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_transactions_come_first),
	    cmocka_unit_test(test_loops_and_hops),
	    cmocka_unit_test(test_in_dialog_routing),
	    cmocka_unit_test(test_out_of_dialog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
