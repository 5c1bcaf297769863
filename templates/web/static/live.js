// live.js: the live page. Connects to the stream with a single-use ticket
// from POST /web/stream-ticket (the session cookie and the page's CSRF
// token; the page never holds an API token or the session id), shows each
// pushed item at the top with its TLP label and an unread marker, and
// after a drop (network, server restart, a laptop waking up) reconnects
// with a fresh ticket and resumes from the last event id, so nothing is
// missed and nothing comes twice.

const root = document.getElementById("live");
const list = document.getElementById("live-items");
const empty = document.getElementById("live-empty");
const statusEl = document.getElementById("live-status");
const countEl = document.getElementById("unread-count");
const markRead = document.getElementById("mark-read");
const t = (k) => root.dataset["t" + k.charAt(0).toUpperCase() + k.slice(1)] || k;
const baseTitle = document.title;

let ws = null;
let connecting = false;		// a ticket is on its way
let lastEventId = null;		// resume point: the last event seen
let retry = 0;
let timer = null;
let stopped = false;
let unread = 0;
let lastTick = Date.now();

function setStatus(text, cls) {
	statusEl.textContent = text;
	statusEl.className = "status " + (cls || "");
}

function setUnread(n) {
	unread = n;
	countEl.textContent = n > 0 ? `${n} ${t("unread")}` : "";
	document.title = n > 0 ? `(${n}) ${baseTitle}` : baseTitle;
	markRead.disabled = n === 0;
}

function tlpClass(tlp) {
	return "tlp-" + String(tlp || "red").toLowerCase().replace("+", "-");
}

const typeText = {
	"advisory.published": "published",
	"advisory.updated": "updated",
	"advisory.revoked": "revoked",
	"warning.issued": "warning",
};

// One pushed item, built with DOM calls (never innerHTML: the data is
// the publisher's text).
function show(msg) {
	const d = msg.data || {};
	const li = document.createElement("li");
	li.className = "item unread";
	li.dataset.eventId = msg.event_id;
	li.dataset.id = d.id || "";
	const label = document.createElement("div");
	label.className = "tlp " + tlpClass(msg.tlp);
	label.textContent = "TLP:" + msg.tlp;
	const body = document.createElement("div");
	body.className = "item-body";
	const h = document.createElement("h2");
	const a = document.createElement("a");
	const kind = msg.type.startsWith("warning") ? "warnings" : "advisories";
	a.href = `/${kind}/${encodeURIComponent(d.id || "")}`;
	a.textContent = `${d.id || "?"}: ${d.title || ""}`;
	h.append(a);
	const meta = document.createElement("p");
	meta.className = "meta";
	const mark = document.createElement("span");
	mark.className = "unread-mark";
	mark.textContent = t("new");
	const what = document.createElement("span");
	what.textContent = t(typeText[msg.type] || "published");
	meta.append(mark, what);
	if (d.severity) {
		const sev = document.createElement("span");
		sev.className = "sev sev-" + d.severity;
		sev.textContent = t("severity" + d.severity.charAt(0).toUpperCase() + d.severity.slice(1));
		meta.append(sev);
	}
	const when = document.createElement("time");
	when.dateTime = d.updated_at || d.published_at || d.created_at || "";
	when.textContent = when.dateTime;
	meta.append(when);
	body.append(h, meta);
	if (d.summary || d.description) {
		const p = document.createElement("p");
		p.textContent = d.summary || d.description;
		body.append(p);
	}
	li.append(label, body);
	li.addEventListener("click", () => readOne(li));
	a.addEventListener("focus", () => readOne(li));
	list.prepend(li);
	empty.hidden = true;
	setUnread(unread + 1);
}

function readOne(li) {
	if (!li.classList.contains("unread"))
		return;
	li.classList.remove("unread");
	li.querySelector(".unread-mark")?.remove();
	setUnread(Math.max(0, unread - 1));
}

markRead.addEventListener("click", () => {
	list.querySelectorAll("li.unread").forEach(readOne);
	setUnread(0);
});

function later() {
	if (stopped)
		return;
	clearTimeout(timer);
	const delay = Math.min(30000, 1000 * 2 ** retry) * (0.8 + Math.random() * 0.4);
	retry = Math.min(retry + 1, 5);
	timer = setTimeout(connect, delay);
}

async function ticket() {
	const r = await fetch("/web/stream-ticket", {
		method: "POST",
		credentials: "same-origin",
		headers: { "X-CSRF-Token": root.dataset.csrf },
	});
	if (r.status === 401 || r.status === 403)
		return null;		// the session is over
	if (!r.ok)
		throw new Error("ticket: " + r.status);
	return r.json();
}

async function connect() {
	if (stopped || connecting || (ws && ws.readyState <= WebSocket.OPEN))
		return;
	setStatus(lastEventId === null ? t("connecting") : t("reconnecting"), "down");
	let tk;
	connecting = true;
	try {
		tk = await ticket();
	} catch (e) {
		later();
		return;
	} finally {
		connecting = false;
	}
	if (tk === null) {
		stopped = true;
		setStatus(t("signedOut"), "down");
		return;
	}
	// The resume point goes in the URL, so the server knows it before
	// authentication: it replays what was missed, then says "ready".
	// (A {"type":"resume"} message racing with the auth could arrive
	// after "ready", whose last_event_id would then hide the replay.)
	const url = new URL(tk.stream_url || root.dataset.streamUrl);
	if (lastEventId !== null)
		url.searchParams.set("since", lastEventId);
	const sock = new WebSocket(url);
	ws = sock;
	sock.addEventListener("open", () => {
		sock.send(JSON.stringify({ type: "auth", token: tk.ticket }));
	});
	sock.addEventListener("message", (ev) => {
		let msg;
		try {
			msg = JSON.parse(ev.data);
		} catch (e) {
			return;
		}
		switch (msg.type) {
		case "ready":
			retry = 0;
			if (lastEventId === null || msg.last_event_id > lastEventId)
				lastEventId = msg.last_event_id;
			setStatus(t("live"), "live");
			root.dataset.state = "live";
			break;
		case "replay.truncated":
			setStatus(t("truncated"), "down");
			break;
		case "error":
			break;
		default:
			if (typeof msg.event_id === "number") {
				if (lastEventId !== null && msg.event_id <= lastEventId)
					return;	// already shown
				lastEventId = msg.event_id;
				show(msg);
			}
		}
	});
	sock.addEventListener("close", (ev) => {
		if (ws === sock)
			ws = null;
		root.dataset.state = "down";
		if (stopped)
			return;
		setStatus(t("reconnecting"), "down");
		// 4401: the ticket or the session was refused; a new ticket
		// tells which (ticket() answers 401 once signed out).
		later();
	});
}

// A laptop that slept: timers stall, the socket may be half dead. Start
// again at once, resuming from the last event.
setInterval(() => {
	const now = Date.now();
	if (now - lastTick > 20000 && ws) {
		ws.close(4000, "woke up");
		ws = null;
		retry = 0;
		connect();
	}
	lastTick = now;
}, 5000);
window.addEventListener("online", () => { retry = 0; connect(); });
document.addEventListener("visibilitychange", () => {
	if (document.visibilityState === "visible" && !ws) {
		retry = 0;
		connect();
	}
});

connect();
