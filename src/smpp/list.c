/*
 * list.c — the two repeated structures of SMPP 3.4: submit_multi's
 * dest_address list (§4.5.1.1) and submit_multi_resp's unsuccess_sme list
 * (§4.5.2.1).  Decode checks every entry once and keeps the list as one raw
 * view; smpp_dest_next and smpp_unsuccess_next walk it again on demand.
 */
#include <string.h>

#include "smpp/wire.h"

static int smpp_dest_read(struct str *r, struct smpp_dest *d)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = smpp_rd_u8(r, &d->flag)) != 0)
		return rc;
	switch (d->flag) {
	case SMPP_DEST_SME:
		if ((rc = smpp_rd_u8(r, &d->sme.ton)) != 0 || (rc = smpp_rd_u8(r, &d->sme.npi)) != 0)
			return rc;
		return smpp_rd_cstr(r, SMPP_ADDR_MAX, SMPP_E_DEST_ADDR, &d->sme.addr);
	case SMPP_DEST_DL:
		return smpp_rd_cstr(r, SMPP_ADDR_MAX, SMPP_E_DL_NAME, &d->dl_name);
	}
	return SMPP_E_DEST_FLAG;
}

static int smpp_unsuccess_read(struct str *r, struct smpp_unsuccess *u)
{
	int rc;

	memset(u, 0, sizeof(*u));
	if ((rc = smpp_rd_u8(r, &u->addr.ton)) != 0 || (rc = smpp_rd_u8(r, &u->addr.npi)) != 0 ||
	    (rc = smpp_rd_cstr(r, SMPP_ADDR_MAX, SMPP_E_DEST_ADDR, &u->addr.addr)) != 0)
		return rc;
	return smpp_rd_u32(r, &u->error_status_code);
}

int smpp_dest_next(struct str *raw, struct smpp_dest *out)
{
	return raw->len == 0 ? SMPP_E_SHORT : smpp_dest_read(raw, out);
}

int smpp_unsuccess_next(struct str *raw, struct smpp_unsuccess *out)
{
	return raw->len == 0 ? SMPP_E_SHORT : smpp_unsuccess_read(raw, out);
}

int smpp_dests_decode(struct str *r, struct smpp_pdu *out)
{
	struct smpp_dest d;
	const char *start;
	int rc;

	if ((rc = smpp_rd_u8(r, &out->ndests)) != 0)
		return rc;
	if (out->ndests == 0 || out->ndests > SMPP_MULTI_DESTS_MAX)
		return SMPP_E_NUM_DESTS;
	start = r->p;
	for (size_t i = 0; i < out->ndests; i++)
		if ((rc = smpp_dest_read(r, &d)) != 0)
			return rc;
	out->dests = (struct str){ start, (size_t)(r->p - start) };
	return 0;
}

int smpp_unsuccess_decode(struct str *r, struct smpp_pdu *out)
{
	struct smpp_unsuccess u;
	const char *start;
	int rc;

	if ((rc = smpp_rd_u8(r, &out->nunsuccess)) != 0)
		return rc;
	start = r->p;
	for (size_t i = 0; i < out->nunsuccess; i++)
		if ((rc = smpp_unsuccess_read(r, &u)) != 0)
			return rc;
	out->unsuccess = (struct str){ start, (size_t)(r->p - start) };
	return 0;
}

/* A raw list passed through must hold exactly n well-formed entries. */
static bool smpp_list_raw_ok(struct str raw, size_t n, bool dests)
{
	struct smpp_dest d;
	struct smpp_unsuccess u;

	for (size_t i = 0; i < n; i++)
		if ((dests ? smpp_dest_next(&raw, &d) : smpp_unsuccess_next(&raw, &u)) != 0)
			return false;
	return raw.len == 0;
}

static void smpp_dest_write(struct smpp_wr *w, const struct smpp_dest *d)
{
	smpp_wr_u8(w, d->flag);
	if (d->flag == SMPP_DEST_SME) {
		smpp_wr_u8(w, d->sme.ton);
		smpp_wr_u8(w, d->sme.npi);
		smpp_wr_cstr(w, d->sme.addr, SMPP_ADDR_MAX, SMPP_E_DEST_ADDR);
	} else if (d->flag == SMPP_DEST_DL) {
		smpp_wr_cstr(w, d->dl_name, SMPP_ADDR_MAX, SMPP_E_DL_NAME);
	} else {
		smpp_wr_fail(w, SMPP_E_DEST_FLAG);
	}
}

void smpp_dests_encode(struct smpp_wr *w, const struct smpp_pdu *p)
{
	if (p->ndests == 0 || p->ndests > SMPP_MULTI_DESTS_MAX) {
		smpp_wr_fail(w, SMPP_E_NUM_DESTS);
		return;
	}
	smpp_wr_u8(w, p->ndests);
	if (p->dest_list != NULL) {
		for (size_t i = 0; i < p->ndests; i++)
			smpp_dest_write(w, &p->dest_list[i]);
	} else if (smpp_list_raw_ok(p->dests, p->ndests, true)) {
		smpp_wr_bytes(w, p->dests);
	} else {
		smpp_wr_fail(w, SMPP_E_NUM_DESTS);
	}
}

void smpp_unsuccess_encode(struct smpp_wr *w, const struct smpp_pdu *p)
{
	smpp_wr_u8(w, p->nunsuccess);
	if (p->unsuccess_list != NULL) {
		for (size_t i = 0; i < p->nunsuccess; i++) {
			const struct smpp_unsuccess *u = &p->unsuccess_list[i];
			smpp_wr_u8(w, u->addr.ton);
			smpp_wr_u8(w, u->addr.npi);
			smpp_wr_cstr(w, u->addr.addr, SMPP_ADDR_MAX, SMPP_E_DEST_ADDR);
			smpp_wr_u32(w, u->error_status_code);
		}
	} else if (!smpp_list_raw_ok(p->unsuccess, p->nunsuccess, false)) {
		smpp_wr_fail(w, SMPP_E_INVAL);
	} else {
		smpp_wr_bytes(w, p->unsuccess);
	}
}
