-- 0022_tendlc: US A2P 10DLC registration, opt-outs and content rules
-- (docs/decisions/0041).  Provisioning tables: every write bumps the config
-- version, so the compliance snapshot (src/tendlc/) the SMPP and HTTP send
-- paths read is rebuilt from them; no statement runs per message.
--
-- A brand is the company a campaign registry (TCR) vetted; registry_id is
-- the registry's "B…" id.  A campaign is one registered use case of a
-- brand ("C…"): its sample messages and the texts sent on opt-in, opt-out
-- (STOP) and HELP.  throughput is kept as the registry and carriers
-- assigned it (JSON: per carrier its class and limits) for the throughput
-- part of issue 12; nothing reads it yet.  max_numbers NULL means the
-- [tendlc] campaign_max_numbers default.
CREATE TABLE brands (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	legal_name TEXT NOT NULL,
	ein TEXT NOT NULL,
	vertical TEXT NOT NULL,
	registry_id TEXT UNIQUE,
	vetting_score BIGINT,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'verified', 'unverified', 'suspended')),
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX brands_customer ON brands (customer_id);

CREATE TABLE campaigns (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	brand_id TEXT NOT NULL REFERENCES brands (id),
	registry_id TEXT UNIQUE,
	use_case TEXT NOT NULL,
	description TEXT,
	sample_messages TEXT NOT NULL DEFAULT '[]',
	opt_in_text TEXT,
	opt_out_text TEXT NOT NULL,
	help_text TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'active', 'suspended', 'expired')),
	max_numbers BIGINT,
	throughput TEXT NOT NULL DEFAULT '{}',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX campaigns_brand ON campaigns (brand_id);

-- A number sends for exactly one campaign: UNIQUE (number_id).
CREATE TABLE campaign_numbers (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	campaign_id TEXT NOT NULL REFERENCES campaigns (id),
	number_id TEXT NOT NULL UNIQUE REFERENCES numbers (id) ON DELETE CASCADE,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE INDEX campaign_numbers_campaign ON campaign_numbers (campaign_id);

-- A handset (recipient, E.164) that asked one of a customer's numbers
-- (number, E.164) to stop: by keyword (MO STOP), import or the API.
-- brand_id is the number's campaign's brand when it was recorded, what a
-- brand-wide opt-out ([tendlc] opt_out_scope = brand) matches.
CREATE TABLE opt_outs (
	id TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL REFERENCES customers (id),
	number TEXT NOT NULL,
	recipient TEXT NOT NULL,
	brand_id TEXT,
	source TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('keyword', 'import', 'api')),
	keyword TEXT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (customer_id, number, recipient)
);

-- Content rules for MT to US (+1) destinations: match 'domain' finds a URL
-- whose host is one of patterns (or a subdomain of one), 'keyword' a word
-- or phrase of patterns (case-insensitive, whole words).  action: refuse,
-- or tag (counted and logged, the message goes on).
CREATE TABLE content_rules (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	category TEXT NOT NULL DEFAULT 'other',
	match TEXT NOT NULL CHECK (match IN ('domain', 'keyword')),
	patterns TEXT NOT NULL DEFAULT '[]',
	action TEXT NOT NULL DEFAULT 'refuse' CHECK (action IN ('refuse', 'tag')),
	enabled BIGINT NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- The public URL shorteners US carriers filter (docs/decisions/0041):
-- editable and removable through /api/v1/content-rules like any rule.
INSERT INTO content_rules (id, name, category, match, patterns, action, enabled, created_at,
	updated_at) VALUES ('crl_urlshorteneraaaaaaaaaaaaaa', 'url_shortener', 'url_shortener', 'domain',
	'["bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "t.ly", "bl.ink", "s.id", "v.gd", "lnkd.in", "shorte.st", "adf.ly", "bitly.com"]',
	'refuse', 1, 0, 0);
