#!/usr/bin/env node
/*
 * esme.js — a customer's SMPP client (ESME) for WARP's integration tests,
 * built on the npm `smpp` package, independent of WARP's codec.
 *
 * Usage: node esme.js '<json config>'   config: {host, port, tls (bool), ca (file),
 *        servername, auto_ack (default true: answer deliver_sm with status 0),
 *        ack_delay_ms (that answer after this long; default 0)}
 *        Each deliver_sm event carries "unanswered": those received and not yet
 *        answered, this one included.
 *
 * Commands on stdin, one JSON object a line; each may carry "tag", echoed in
 * the event that answers it:
 *   {"cmd":"bind", "mode":"transceiver"|"transmitter"|"receiver", "system_id", "password",
 *    "system_type"}                                   -> bind_resp
 *   {"cmd":"submit", "fields": {...submit_sm fields; short_message as text,
 *    or "hex" for bytes, "udh_hex" for a UDH}}      -> submit_sm_resp
 *   {"cmd":"submit_many", "n", "window", "fields"}     -> one "submit_many_done" with counts
 *     (keeps up to window submits outstanding; fields.destination_addr may hold "{i}";
 *     with "each": true also one "submit_resp" event per answer, with its message_id)
 *   {"cmd":"pdu", "command", "fields"}                 -> <command>_resp (query_sm, cancel_sm,
 *     replace_sm, submit_multi with fields.dest_address [{destination_addr} | {dl_name}];
 *     submit_multi_resp carries unsuccess_sme [{destination_addr, error_status_code}])
 *   {"cmd":"raw", "hex"}                               write bytes as they are (malformed PDUs)
 *   {"cmd":"enquire_link"} / {"cmd":"unbind"} / {"cmd":"close"} / {"cmd":"exit"}
 * Events on stdout: connected, bind_resp, submit_sm_resp, deliver_sm, generic_nack,
 *   <command>_resp, submit_many_done, closed, error.
 */
'use strict';

const fs = require('fs');
const readline = require('readline');
const smpp = require('smpp');

const cfg = Object.assign({ host: '127.0.0.1', port: 2775, auto_ack: true },
	JSON.parse(process.argv[2] || '{}'));

function emit(ev) {
	process.stdout.write(JSON.stringify(ev) + '\n');
}

function hex(b) {
	return Buffer.isBuffer(b) ? b.toString('hex') : undefined;
}

function describe(pdu) {
	const out = { command: pdu.command, command_status: pdu.command_status,
		sequence_number: pdu.sequence_number };
	for (const k of ['source_addr', 'destination_addr', 'esm_class', 'data_coding',
		'receipted_message_id', 'message_state', 'message_id', 'system_id',
		'sar_msg_ref_num', 'sar_total_segments', 'sar_segment_seqnum',
		'user_message_reference', 'final_date', 'error_code', 'unsuccess_sme']) {
		if (pdu[k] !== undefined)
			out[k] = pdu[k] instanceof Date ? pdu[k].toISOString() : pdu[k];
	}
	if (Buffer.isBuffer(pdu.network_error_code))
		out.network_error_code = hex(pdu.network_error_code);
	const sm = pdu.short_message;
	if (sm && typeof sm === 'object' && !Buffer.isBuffer(sm)) {
		out.text = typeof sm.message === 'string' ? sm.message : undefined;
		out.message_hex = hex(sm.message);
		if (sm.udh)
			out.udh_hex = sm.udh.map(hex);
	}
	if (pdu.message_payload) {
		const mp = pdu.message_payload;
		out.payload_text = typeof mp.message === 'string' ? mp.message : undefined;
	}
	return out;
}

/* submit_sm fields from a command: text stays a string (the package picks the
 * coding from data_coding), hex and udh_hex become bytes. */
function fields(f, i) {
	const o = Object.assign({}, f);
	for (const k of Object.keys(o)) {
		if (typeof o[k] === 'string')
			o[k] = o[k].replace('{i}', String(i));
	}
	if (o.hex !== undefined || o.udh_hex !== undefined) {
		let body = o.hex !== undefined ? Buffer.from(o.hex, 'hex')
			: smpp.encodings[o.data_coding === 8 ? 'UCS2' : 'ASCII'].encode(o.short_message || '');
		if (o.udh_hex) {
			body = Buffer.concat([Buffer.from(o.udh_hex, 'hex'), body]);
			o.esm_class = (o.esm_class || 0) | 0x40;
		}
		o.short_message = body;
		delete o.hex;
		delete o.udh_hex;
	}
	if (o.message_payload_text !== undefined) {
		o.message_payload = o.message_payload_text;
		delete o.message_payload_text;
	}
	return o;
}

const url = (cfg.tls ? 'ssmpp://' : 'smpp://') + cfg.host + ':' + cfg.port;
const tlsOpts = cfg.tls ? { url, rejectUnauthorized: true,
	ca: cfg.ca ? fs.readFileSync(cfg.ca) : undefined, servername: cfg.servername || cfg.host }
	: url;
const session = smpp.connect(tlsOpts);
session.on(cfg.tls ? 'secureConnect' : 'connect', () => emit({ ev: 'connected' }));
session.on('close', () => {
	emit({ ev: 'closed' });
	process.exit(0);
});
session.on('error', (e) => emit({ ev: 'error', detail: String(e && e.message) }));
let unanswered = 0; // deliver_sm received and not answered yet
session.on('deliver_sm', (pdu) => {
	unanswered++;
	emit(Object.assign({ ev: 'deliver_sm', unanswered }, describe(pdu)));
	if (!cfg.auto_ack)
		return;
	setTimeout(() => {
		unanswered--;
		session.send(pdu.response());
	}, cfg.ack_delay_ms || 0);
});
session.on('generic_nack', (pdu) => emit(Object.assign({ ev: 'generic_nack' }, describe(pdu))));
session.on('enquire_link', (pdu) => session.send(pdu.response()));
session.on('unbind', (pdu) => {
	emit({ ev: 'unbind' });
	session.send(pdu.response());
});
session.on('outbind', (pdu) => emit(Object.assign({ ev: 'outbind' }, describe(pdu))));

function answer(tag, name) {
	return (pdu) => emit(Object.assign({ ev: name || pdu.command, tag }, describe(pdu)));
}

function submitMany(c) {
	const n = c.n;
	const window = c.window || 10;
	let sent = 0;
	let done = 0;
	const byStatus = {};
	const started = Date.now();
	const pump = () => {
		while (sent < n && sent - done < window) {
			const i = sent++;
			session.submit_sm(fields(c.fields, i), (pdu) => {
				byStatus[pdu.command_status] = (byStatus[pdu.command_status] || 0) + 1;
				if (c.each)
					emit({ ev: 'submit_resp', tag: c.tag, command_status: pdu.command_status,
						message_id: pdu.message_id });
				if (++done === n) {
					emit({ ev: 'submit_many_done', tag: c.tag, n, by_status: byStatus,
						ms: Date.now() - started });
				} else {
					pump();
				}
			});
		}
	};
	pump();
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
	let c;
	try {
		c = JSON.parse(line);
	} catch (e) {
		emit({ ev: 'error', detail: 'bad command: ' + line });
		return;
	}
	switch (c.cmd) {
	case 'bind':
		session['bind_' + (c.mode || 'transceiver')]({ system_id: c.system_id,
			password: c.password, system_type: c.system_type || '' }, answer(c.tag, 'bind_resp'));
		break;
	case 'submit':
		session.submit_sm(fields(c.fields || {}, 0), answer(c.tag));
		break;
	case 'submit_many':
		submitMany(c);
		break;
	case 'pdu':
		session[c.command](fields(c.fields || {}, 0), answer(c.tag));
		break;
	case 'raw':
		session.socket.write(Buffer.from(c.hex, 'hex'));
		break;
	case 'enquire_link':
		session.enquire_link({}, answer(c.tag));
		break;
	case 'unbind':
		session.unbind({}, answer(c.tag));
		break;
	case 'close':
		session.destroy();
		break;
	case 'exit':
		process.exit(0);
	}
}).on('close', () => process.exit(0));
