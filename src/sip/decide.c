/*
 * decide.c — the proxy's rules for a received request (decide.h).
 */
#include "sip/decide.h"

static void reply(struct sip_req_verdict *v, enum sip_method method, int code, const char *tag,
		  bool allow)
{
	/* An ACK is never answered (§17.1.1.3, §17.2.1): refusing one is
	 * dropping it. */
	*v = (struct sip_req_verdict){.action =
					  method == SIP_METHOD_ACK ? SIP_REQ_ABSORB : SIP_REQ_REPLY,
				      .code = code,
				      .tag = tag,
				      .allow = allow};
}

static void act(struct sip_req_verdict *v, enum sip_req_action a)
{
	*v = (struct sip_req_verdict){.action = a};
}

void sip_decide_request(const struct sip_req_facts *f, struct sip_req_verdict *v)
{
	bool ack = f->method == SIP_METHOD_ACK;

	if (ack && f->server_tx)
		act(v, SIP_REQ_ACK_TO_TX);
	else if (ack && f->ack_ours)
		act(v, SIP_REQ_ABSORB);
	else if (!ack && f->server_tx)
		act(v, SIP_REQ_RETRANSMIT);
	else if (f->method == SIP_METHOD_CANCEL)
		act(v, SIP_REQ_CANCEL); /* hop by hop (§16.10): no loop or hop check */
	else if (f->loop)
		reply(v, f->method, 482, "l482", false);
	else if (f->to_tag && f->max_forwards > 0)
		act(v, SIP_REQ_IN_DIALOG);
	else if (f->to_tag)
		reply(v, f->method, 483, "m483", false);
	else
		act(v, SIP_REQ_OUT_OF_DIALOG); /* Max-Forwards 0 is the next step's: OPTIONS */
}

void sip_decide_in_dialog(const struct sip_dialog_facts *f, struct sip_req_verdict *v)
{
	/* Not ours to route: neither a Route of ours nor our Request-URI. */
	if (f->routes_ours == 0 && !f->addressed_to_us)
		reply(v, f->method, 403, "d403", false);
	else if (!f->next_hop)
		reply(v, f->method, 404, "d404", false);
	else if (!f->call && f->stale_contact)
		/* routed on, it would come back to us until Max-Forwards ran out */
		reply(v, f->method, 481, "t481", false);
	else
		act(v, SIP_REQ_FORWARD);
}

void sip_decide_out_of_dialog(const struct sip_ood_facts *f, struct sip_req_verdict *v)
{
	/* OPTIONS with Max-Forwards 0 is a question to us (§11, RFC 3261 §16.3
	 * step 3), as is one addressed to us. */
	/* §10.3 step 1: bindings of our own domain only; we forward no REGISTER */
	if (f->method == SIP_METHOD_REGISTER && f->max_forwards > 0 && f->addressed_to_us)
		act(v, SIP_REQ_REGISTER);
	else if (f->method == SIP_METHOD_REGISTER && f->max_forwards > 0)
		reply(v, f->method, 404, "g404", false);
	else if (f->method == SIP_METHOD_OPTIONS && (f->max_forwards == 0 || f->addressed_to_us))
		act(v, SIP_REQ_OPTIONS);
	else if (f->max_forwards == 0)
		reply(v, f->method, 483, "m483", false);
	else if (f->method == SIP_METHOD_INVITE)
		act(v, SIP_REQ_INVITE);
	else
		reply(v, f->method, 405, "n405", true);
}
