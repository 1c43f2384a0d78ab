#!/usr/bin/env node
/*
 * smsc_sim.js — an upstream SMSC for WARP's integration tests, built on the
 * npm `smpp` package (an implementation independent of WARP's codec).
 *
 * Usage: node smsc_sim.js '<json config>'
 *
 * It listens on loopback, answers binds, acknowledges or refuses submits as
 * its current behaviour says, sends delivery receipts in the id format asked
 * for, and sends mobile-originated messages on command.  The test drives it
 * through JSON lines on stdin and reads what it saw as JSON lines on stdout,
 * one event a line, so every assertion is about bytes that crossed a socket.
 *
 * Config (every key optional):
 *   port            TCP port on 127.0.0.1 (0: any; the "listening" event says which)
 *   tls             {cert, key}: listen with TLS instead
 *   accounts        {system_id: password}; absent: any credentials bind
 *   refuse_bind     command_status answered to every bind (e.g. 13 = ESME_RBINDFAIL)
 *   id_format       "hex" | "HEX" | "dec" | "uuid" | "quoted" (with '"', '\\', ',' and
 *                   braces, what an array literal must escape): how message ids are written
 *   resp_delay_ms   delay before each submit_sm_resp
 *   throttle_first  answer the first N submits ESME_RTHROTTLED (0x58)
 *   status_for      {destination_addr: command_status} for chosen destinations
 *   no_resp         true: never answer submit_sm (a response timeout)
 *   dlr             {delay_ms, stat, err, tlv (bool), text (bool), before_resp (bool)}
 *                   false: send no receipts
 * Commands on stdin (one JSON object a line):
 *   {"cmd":"config", ...}       merge into the behaviour above
 *   {"cmd":"mo", "source_addr", "destination_addr", "text" | "hex",
 *    "data_coding", "udh_hex", "tlvs": {...}, "tag"}   deliver_sm to every bound RX/TRX
 *      (one part of a multi-part MO: udh_hex "050003RRTTSS" or "060804RRRRTTSS", or
 *      tlvs {sar_msg_ref_num, sar_total_segments, sar_segment_seqnum}); its
 *      deliver_sm_resp event has what = tag (default "mo"); with "data_sm": true it
 *      goes as data_sm with the text in message_payload (and data_sm_resp is the event)
 *   {"cmd":"dlr", "id", "stat", "err"}          a receipt for a message id
 *   {"cmd":"close_all"}         drop every session (a network failure)
 *   {"cmd":"stop_listening"} / {"cmd":"exit"}
 * Events on stdout: listening, bind, submit_sm, unbind, enquire_link,
 *   deliver_sm_resp, data_sm_resp, closed, error; bind and submit_sm carry
 *   ms, the time they arrived (epoch milliseconds).
 */
'use strict';

const fs = require('fs');
const readline = require('readline');
const smpp = require('smpp');

const cfg = Object.assign({ port: 0, id_format: 'hex', resp_delay_ms: 0, throttle_first: 0,
	status_for: {}, dlr: { delay_ms: 50, stat: 'DELIVRD', err: '000', tlv: true, text: true } },
	JSON.parse(process.argv[2] || '{}'));

const sessions = new Set();
const received = new Map(); // message id -> the submit it acknowledged
let nextId = 1;
let submits = 0;

function emit(ev) {
	process.stdout.write(JSON.stringify(ev) + '\n');
}

function hex(b) {
	return Buffer.isBuffer(b) ? b.toString('hex') : undefined;
}

function formatId(n) {
	switch (cfg.id_format) {
	case 'dec': return String(1000000000 + n);
	case 'HEX': return (0xA0000000 + n).toString(16).toUpperCase();
	case 'uuid': return '0000' + n.toString(16).padStart(4, '0') + '-7c1e-4a2b-9d3f-' +
		(0xabcdef000000 + n).toString(16);
	case 'quoted': return 'q"' + n + '\\{a},b';
	default: return (0xa0000000 + n).toString(16);
	}
}

/* What a test asserts on: the fields as the npm package decoded them, the
 * text of the short message, its UDH and the TLVs WARP may send. */
function describe(pdu) {
	const out = { command: pdu.command, sequence_number: pdu.sequence_number };
	for (const k of ['service_type', 'source_addr_ton', 'source_addr_npi', 'source_addr',
		'dest_addr_ton', 'dest_addr_npi', 'destination_addr', 'esm_class', 'protocol_id',
		'priority_flag', 'registered_delivery', 'data_coding', 'validity_period',
		'sar_msg_ref_num', 'sar_total_segments', 'sar_segment_seqnum',
		'user_message_reference', 'source_port', 'destination_port', 'receipted_message_id',
		'message_state', 'network_error_code']) {
		if (pdu[k] !== undefined && !(pdu[k] instanceof Date))
			out[k] = Buffer.isBuffer(pdu[k]) ? hex(pdu[k]) : pdu[k];
	}
	if (pdu.validity_period instanceof Date)
		out.validity_period = pdu.validity_period.toISOString();
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
		out.payload_hex = hex(Buffer.isBuffer(mp) ? mp : mp.message);
	}
	return out;
}

function stamp(d) {
	const p = (n) => String(n).padStart(2, '0');
	return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
		p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const STATES = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6,
	UNKNOWN: 7, REJECTD: 8 };

/* SMPP 3.4 Appendix B receipt text, and/or the receipt TLVs. */
function receipt(id, sub, stat, err) {
	const d = cfg.dlr || {};
	const now = new Date();
	const opts = {
		source_addr: sub.destination_addr, destination_addr: sub.source_addr,
		esm_class: 0x04, data_coding: 0,
	};
	if (d.text !== false) {
		const text = 'id:' + id + ' sub:001 dlvrd:' + (stat === 'DELIVRD' ? '001' : '000') +
			' submit date:' + stamp(now) + ' done date:' + stamp(now) + ' stat:' + stat +
			' err:' + err + ' text:' + String(sub.text || '').replace(/[^\x20-\x7e]/g, '.').slice(0, 20);
		opts.short_message = Buffer.from(text, 'latin1');
	}
	if (d.tlv !== false) {
		opts.receipted_message_id = id;
		opts.message_state = STATES[stat] || 7;
		opts.network_error_code = Buffer.from([3, 0, Number(err) || 0]);
	}
	return opts;
}

function sendToReceivers(opts, what, command) {
	let n = 0;
	for (const s of sessions) {
		if (!s.bound || s.bound === 'bind_transmitter')
			continue;
		s[command || 'deliver_sm'](Object.assign({}, opts), (resp) =>
			emit({ ev: (command || 'deliver_sm') + '_resp', what,
				command_status: resp.command_status }));
		n++;
	}
	if (!n)
		emit({ ev: 'error', what, detail: 'no receiver session bound' });
}

function sendReceipt(id, stat, err) {
	const sub = received.get(id) || { source_addr: '', destination_addr: '' };
	sendToReceivers(receipt(id, sub, stat || 'DELIVRD', err || '000'), 'receipt ' + id);
}

function onSubmit(session, pdu) {
	const ev = Object.assign({ ev: 'submit_sm', system_id: session.system_id, ms: Date.now() },
		describe(pdu));
	submits++;
	let status = 0;
	if (submits <= cfg.throttle_first)
		status = 0x58;
	else if (cfg.status_for[pdu.destination_addr] !== undefined)
		status = cfg.status_for[pdu.destination_addr];
	const id = status === 0 ? formatId(nextId++) : undefined;
	ev.command_status = status;
	ev.message_id = id;
	emit(ev);
	if (cfg.no_resp)
		return;
	const d = cfg.dlr;
	if (id) {
		received.set(id, { source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
			text: ev.text });
	}
	const wantsDlr = id && d && (pdu.registered_delivery & 0x03);
	if (wantsDlr && d.before_resp)
		sendReceipt(id, d.stat, d.err);
	setTimeout(() => {
		session.send(pdu.response(id ? { command_status: 0, message_id: id }
			: { command_status: status }));
		if (wantsDlr && !d.before_resp)
			setTimeout(() => sendReceipt(id, d.stat, d.err), d.delay_ms || 0);
	}, cfg.resp_delay_ms || 0);
}

function onBind(session, pdu) {
	let status = 0;
	if (cfg.refuse_bind)
		status = cfg.refuse_bind;
	else if (cfg.accounts && !(pdu.system_id in cfg.accounts))
		status = 0x0F;
	else if (cfg.accounts && cfg.accounts[pdu.system_id] !== pdu.password)
		status = 0x0E;
	emit({ ev: 'bind', command: pdu.command, system_id: pdu.system_id,
		system_type: pdu.system_type, interface_version: pdu.interface_version,
		command_status: status, ms: Date.now() });
	session.send(pdu.response({ command_status: status, system_id: 'SIMSMSC' }));
	if (status === 0) {
		session.bound = pdu.command;
		session.system_id = pdu.system_id;
	}
}

function onSession(session) {
	sessions.add(session);
	for (const cmd of ['bind_transmitter', 'bind_receiver', 'bind_transceiver'])
		session.on(cmd, (pdu) => onBind(session, pdu));
	session.on('submit_sm', (pdu) => onSubmit(session, pdu));
	session.on('enquire_link', (pdu) => {
		emit({ ev: 'enquire_link', system_id: session.system_id });
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		emit({ ev: 'unbind', system_id: session.system_id });
		session.send(pdu.response());
		session.close();
	});
	session.on('unknown', (pdu) => session.send(pdu.response()));
	session.on('close', () => {
		sessions.delete(session);
		emit({ ev: 'closed', system_id: session.system_id });
	});
	session.on('error', (e) => emit({ ev: 'error', detail: String(e && e.message) }));
}

function moOptions(c) {
	const o = { source_addr: c.source_addr, destination_addr: c.destination_addr,
		data_coding: c.data_coding || 0, esm_class: c.esm_class || 0 };
	let body = c.hex !== undefined ? Buffer.from(c.hex, 'hex') : null;
	if (body === null) {
		const enc = o.data_coding === 8 ? 'UCS2' : o.data_coding === 3 ? 'LATIN1' : 'ASCII';
		body = smpp.encodings[enc].encode(c.text || '');
	}
	if (c.udh_hex) {
		o.esm_class |= 0x40;
		body = Buffer.concat([Buffer.from(c.udh_hex, 'hex'), body]);
	}
	if (c.data_sm)
		o.message_payload = body;
	else
		o.short_message = body;
	return Object.assign(o, c.tlvs || {});
}

const server = cfg.tls
	? smpp.createServer({ key: fs.readFileSync(cfg.tls.key), cert: fs.readFileSync(cfg.tls.cert) },
		onSession)
	: smpp.createServer(onSession);
if (cfg.tls)
	server.on('tlsClientError', (e) => emit({ ev: 'error', detail: 'tls: ' + e.message }));

server.listen(cfg.port, '127.0.0.1', () => emit({ ev: 'listening', port: server.address().port }));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
	let c;
	try {
		c = JSON.parse(line);
	} catch (e) {
		emit({ ev: 'error', detail: 'bad command: ' + line });
		return;
	}
	if (c.cmd === 'config') {
		delete c.cmd;
		Object.assign(cfg, c);
		emit({ ev: 'configured' });
	} else if (c.cmd === 'mo') {
		sendToReceivers(moOptions(c), c.tag || 'mo', c.data_sm ? 'data_sm' : 'deliver_sm');
	} else if (c.cmd === 'dlr') {
		sendReceipt(c.id, c.stat, c.err);
	} else if (c.cmd === 'close_all') {
		for (const s of sessions)
			s.destroy();
	} else if (c.cmd === 'stop_listening') {
		server.close();
	} else if (c.cmd === 'exit') {
		process.exit(0);
	}
}).on('close', () => process.exit(0));
