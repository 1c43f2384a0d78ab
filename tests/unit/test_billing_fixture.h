/*
 * test_billing_fixture.h — shared by the billing tests that run on a
 * migrated store (test_store_fixture.h): a prepaid customer in USD with a
 * credit limit and, when balance > 0, a top-up of balance micro-units.
 */
#ifndef WARP_TEST_BILLING_FIXTURE_H
#define WARP_TEST_BILLING_FIXTURE_H

#include "test_store_fixture.h"

#include "billing/billing.h"

static inline void billing_fixture_customer(struct store_conn *c,
					    const struct billing_ledger_opts *opts, const char *id,
					    int64_t balance, int64_t credit)
{
	struct store_param p[] = {store_p_text(id), store_p_int(credit)};
	struct billing_entry e = {.kind = BILLING_TOPUP, .amount = balance};
	bool replayed;

	assert_int_equal(
	    store_exec(c,
		       "INSERT INTO customers (id, name, status, billing_type, currency, "
		       "credit_limit, created_at, updated_at) VALUES ($1, $1, 'active', "
		       "'prepaid', 'USD', $2, 0, 0)",
		       p, 2, NULL),
	    0);
	snprintf(e.customer_id, sizeof(e.customer_id), "%s", id);
	if (balance > 0)
		assert_int_equal(billing_ledger_post(c, opts, &e, &replayed), 0);
}

#endif
