// web.test.mjs: tocsin's web portal in a real browser (issue 7). Debian's
// chromium driven by playwright-core, which downloads no browser. Run by
// tests/integration/97-web-e2e.py, which starts the daemon, makes the
// organisations and people, and passes them in the JSON file named by
// TOCSIN_E2E. Screenshots go to its "artifacts" directory.
//
//	node --test --test-concurrency=1 web.test.mjs

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const cfg = JSON.parse(readFileSync(process.env.TOCSIN_E2E, "utf8"));
const base = cfg.url;
mkdirSync(cfg.artifacts, { recursive: true });

const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update",
	"--disable-sync", "--disable-dev-shm-usage"];
let browser;
const people = {};		// shared by the tests, in order
const problems = [];		// CSP violations and script errors, any page
let amber;			// the advisory published through the form

before(async () => {
	// launch() gives every run a fresh profile (--user-data-dir) of its own.
	browser = await chromium.launch({
		executablePath: cfg.chromium || "/usr/bin/chromium",
		headless: true,
		args: ARGS,
	});
});

after(async () => {
	await browser?.close();
});

async function api(method, path, token, body) {
	const headers = {};
	if (token)
		headers.Authorization = "Bearer " + token;
	if (body !== undefined)
		headers["Content-Type"] = "application/json";
	const r = await fetch(base + path, {
		method, headers, body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await r.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch (e) {
		/* not JSON */
	}
	return { status: r.status, json, text };
}

async function publish(fields) {
	const doc = {
		title: "Untitled", summary: "", body: "Text.", tlp: "CLEAR",
		severity: "medium", sectors: [], cves: [], products: [], references: [],
		...fields,
	};
	const r = await api("POST", "/v1/advisories", cfg.tokens.publisher, doc);
	assert.equal(r.status, 201, "publish through the API: " + r.text);
	return r.json;
}

function watch(page, who) {
	page.on("console", (m) => {
		const text = m.text();
		if (m.type() === "error" || /Content Security Policy/i.test(text)) {
			// A 4xx asked for on purpose logs its status (401, 403, 404; 422:
			// the audience preview while the form is still incomplete).
			if (!/status of (401|403|404|422)/.test(text))
				problems.push(`${who}: console ${m.type()}: ${text}`);
		}
		console.log(`  [${who} console.${m.type()}] ${text}`);
	});
	page.on("pageerror", (e) => problems.push(`${who}: page error: ${e}`));
}

// The stream as member_a's browser sees it, through Playwright's WebSocket
// routing: every connection is relayed to the server, and a connection can
// be "muted" (what the server sends is lost), as when the network goes
// away under a sleeping laptop.
const relay = { sockets: [], muted: new Set() };

async function relayStream(ctx) {
	await ctx.routeWebSocket(/\/v1\/stream/, (ws) => {
		const server = ws.connectToServer();
		relay.sockets.push(ws);
		ws.onMessage((m) => server.send(m));
		server.onMessage((m) => {
			if (!relay.muted.has(ws))
				ws.send(m);
		});
		ws.onClose((code, reason) => server.close({ code, reason }));
		server.onClose((code, reason) => ws.close({ code, reason }));
	});
}

// A person in a browser context of their own, signed in through the form.
async function person(who, token, locale = "en-GB", relayed = false) {
	const ctx = await browser.newContext({ locale, viewport: { width: 1280, height: 860 } });
	if (relayed)
		await relayStream(ctx);
	const page = await ctx.newPage();
	watch(page, who);
	if (token) {
		await page.goto(base + "/signin");
		await page.getByLabel("API token").fill(token);
		await Promise.all([
			page.waitForURL((u) => !u.pathname.startsWith("/signin")),
			page.locator("main").getByRole("button", { name: "Sign in" }).click(),
		]);
	}
	people[who] = { ctx, page };
	return page;
}

async function shot(page, name) {
	await page.screenshot({ path: `${cfg.artifacts}/${name}.png`, fullPage: true });
}

async function waitLive(page) {
	await page.locator('#live[data-state="live"]').waitFor({ timeout: 15000 });
}

test("the public page and the Atom feed show TLP:CLEAR only", async () => {
	const clear = await publish({
		title: "Patch your VPN gateway", tlp: "CLEAR", severity: "high",
		summary: "A public advisory.", sectors: ["energy"],
		body: "## What\n\nUpdate now.\n\n- one\n- two\n",
	});
	const green = await publish({ title: "Community only", tlp: "GREEN" });
	const hidden = await publish({
		title: "For the energy sector only", tlp: "AMBER",
		audience: { organisations: [cfg.orgs.a.id] },
	});
	const page = await person("visitor", null);
	await page.goto(base + "/");
	const list = await page.locator("#advisories").innerText();
	assert.match(list, /Patch your VPN gateway/);
	assert.doesNotMatch(list, /Community only|For the energy sector only/);
	assert.doesNotMatch(await page.content(), new RegExp(`${green.id}|${hidden.id}`));
	await shot(page, "public");

	// Search and filters.
	await page.getByLabel("Search").fill("VPN");
	await page.getByLabel("Minimum severity").selectOption("high");
	await page.getByRole("button", { name: "Filter" }).click();
	await page.waitForURL(/q=VPN/);
	assert.match(await page.locator("#advisories").innerText(), /Patch your VPN/);

	// The advisory page: the TLP banner in FIRST's colours on black.
	await page.getByRole("link", { name: new RegExp(clear.id) }).click();
	await page.waitForURL(`**/advisories/${clear.id}`);
	const banner = page.locator(".tlp-banner").first();
	assert.equal(await banner.innerText(), "TLP:CLEAR");
	const style = await banner.evaluate((el) => {
		const s = getComputedStyle(el);
		return [s.color, s.backgroundColor];
	});
	assert.deepEqual(style, ["rgb(255, 255, 255)", "rgb(0, 0, 0)"]);
	assert.equal(await page.locator(".body h2").innerText(), "What");
	await shot(page, "advisory-clear");

	// Hidden and missing answer alike.
	for (const id of [hidden.id, green.id, "TST-1999-0001"]) {
		const r = await page.goto(`${base}/advisories/${id}`);
		assert.equal(r.status(), 404, id);
		assert.equal(await page.locator("h1").innerText(), "Not found");
	}

	// The feed, parsed as XML by the browser.
	const feed = await page.request.get(base + "/feed/advisories.atom");
	assert.equal(feed.status(), 200);
	assert.match(feed.headers()["content-type"], /^application\/atom\+xml/);
	const xml = await feed.text();
	const parsed = await page.evaluate((text) => {
		const doc = new DOMParser().parseFromString(text, "application/xml");
		const NS = "http://www.w3.org/2005/Atom";
		const root = doc.documentElement;
		const one = (el, n) => el.getElementsByTagNameNS(NS, n)[0]?.textContent || "";
		return {
			error: doc.getElementsByTagName("parsererror").length,
			root: root.localName, ns: root.namespaceURI,
			id: one(root, "id"), title: one(root, "title"), updated: one(root, "updated"),
			entries: Array.from(root.getElementsByTagNameNS(NS, "entry")).map((e) => ({
				id: one(e, "id"), title: one(e, "title"), updated: one(e, "updated"),
				link: e.getElementsByTagNameNS(NS, "link")[0]?.getAttribute("href"),
				tlp: Array.from(e.getElementsByTagNameNS(NS, "category"))
					.map((c) => c.getAttribute("term")).filter((t) => t.startsWith("TLP:")),
			})),
		};
	}, xml);
	assert.equal(parsed.error, 0, "the feed is well-formed XML");
	assert.deepEqual([parsed.root, parsed.ns], ["feed", "http://www.w3.org/2005/Atom"]);
	assert.ok(parsed.id && parsed.title && parsed.updated);
	assert.ok(parsed.entries.some((e) => e.link.endsWith("/" + clear.id)));
	for (const e of parsed.entries) {
		assert.ok(e.id && e.title && e.updated && e.link);
		assert.deepEqual(e.tlp, ["TLP:CLEAR"]);
	}
	assert.doesNotMatch(xml, new RegExp(`${green.id}|${hidden.id}|Community only`));
});

test("sign-in, a form refused without its CSRF token, sign-out", async () => {
	const page = await person("signin", null);
	await page.goto(base + "/signin");
	await shot(page, "signin");
	// A wrong token is refused on the form.
	await page.getByLabel("API token").fill("tcs_" + "A".repeat(43));
	await page.locator("main").getByRole("button", { name: "Sign in" }).click();
	await page.locator("#signin-error").waitFor();
	assert.match(await page.locator("#signin-error").innerText(), /unknown or revoked/);

	await page.getByLabel("API token").fill(cfg.tokens.member_a);
	await Promise.all([
		page.waitForURL("**/live"),
		page.locator("main").getByRole("button", { name: "Sign in" }).click(),
	]);
	assert.match(await page.locator(".who").innerText(), new RegExp(cfg.names.member_a));
	const cookies = await page.context().cookies();
	const sid = cookies.find((c) => c.name === "tocsin_session");
	assert.ok(sid && sid.httpOnly && sid.sameSite === "Strict", JSON.stringify(sid));
	assert.equal(await page.evaluate(() => document.cookie.includes("tocsin_session")), false);

	// A forged CSRF token: refused with the 403 page, nothing created.
	await page.goto(base + "/subscriptions");
	await page.getByLabel("Name").fill("forged");
	await page.locator('form[action="/subscriptions"] input[name="csrf"]')
		.evaluate((el) => { el.value = "forged-token-forged-token-forged"; });
	const [resp] = await Promise.all([
		page.waitForResponse((r) => r.url().endsWith("/subscriptions") && r.request().method() === "POST"),
		page.getByRole("button", { name: "Subscribe" }).click(),
	]);
	assert.equal(resp.status(), 403);
	await page.waitForLoadState();
	assert.equal(await page.locator("h1").innerText(), "Form refused");
	await shot(page, "csrf-refused");
	const subs = await api("GET", "/v1/subscriptions", cfg.tokens.member_a);
	assert.deepEqual(subs.json.items.map((s) => s.name), []);

	// The same form with its token works.
	await page.goto(base + "/subscriptions");
	await page.getByLabel("Name").fill("Energy, high and up");
	await page.locator("fieldset", { hasText: "Sectors" }).getByLabel("Energy").check();
	await page.getByLabel("Minimum severity").selectOption("high");
	await page.getByLabel("Live page and stream").check();
	await Promise.all([
		page.waitForURL("**/subscriptions"),
		page.getByRole("button", { name: "Subscribe" }).click(),
	]);
	assert.match(await page.locator("table").first().innerText(), /Energy, high and up/);
	await shot(page, "subscriptions");

	await Promise.all([
		page.waitForURL(base + "/"),
		page.getByRole("button", { name: "Sign out" }).click(),
	]);
	assert.ok(await page.getByRole("link", { name: "Sign in" }).isVisible());
	await page.goto(base + "/live");
	assert.match(page.url(), /\/signin\?next=%2Flive$/);
});

test("an AMBER advisory published through the form reaches its audience live, and only it", async () => {
	const a = await person("member_a", cfg.tokens.member_a, "en-GB", true);
	await a.goto(base + "/live");
	await waitLive(a);
	await a.evaluate(() => { window.__notReloaded = true; });
	const b = await person("member_b", cfg.tokens.member_b);
	await b.goto(base + "/live");
	await waitLive(b);

	const p = await person("publisher", cfg.tokens.publisher);
	await p.goto(base + "/publish");
	await p.getByLabel("Title", { exact: true }).fill("Critical RCE in FortiOS SSL-VPN");
	await p.getByLabel("Summary", { exact: true }).fill("Exploited in the wild; patch today.");
	await p.getByLabel("TLP", { exact: true }).selectOption("AMBER");
	await p.getByLabel("Severity", { exact: true }).selectOption("critical");
	await p.locator("fieldset", { hasText: "Sectors" }).first().getByLabel("Energy").check();
	await p.locator("#f-cves").fill("CVE-2024-21762");
	await p.getByLabel("Organisations", { exact: true }).selectOption({ label: cfg.orgs.a.name });
	await p.locator("#f-body").fill("## What to do\n\n1. Upgrade to 7.4.3\n2. Check the logs\n");
	// The reach and the Markdown, previewed as the form changes.
	await p.locator('#reach[data-organisations="1"]').waitFor({ timeout: 10000 });
	assert.match(await p.locator("#reach").innerText(), /1 organisations, 2 people/);
	await p.locator("#body-preview h2", { hasText: "What to do" }).waitFor();
	await shot(p, "publish");
	await Promise.all([
		p.waitForURL(/\/advisories\/TST-\d{4}-\d{4}$/),
		p.getByRole("button", { name: "Publish", exact: true }).click(),
	]);
	const id = p.url().split("/").pop();
	amber = { id };
	const banner = p.locator(".tlp-banner").first();
	assert.equal(await banner.innerText(), "TLP:AMBER");
	assert.equal(await banner.evaluate((el) => getComputedStyle(el).color), "rgb(255, 192, 0)");
	await shot(p, "advisory-amber");

	// The audience's member sees it appear, labelled and unread.
	const item = a.locator(`#live-items li[data-id="${id}"]`);
	await item.waitFor({ timeout: 15000 });
	assert.equal(await item.locator(".tlp").innerText(), "TLP:AMBER");
	assert.match(await item.getAttribute("class"), /unread/);
	assert.equal(await item.locator(".unread-mark").textContent(), "new");
	assert.equal(await a.locator("#unread-count").innerText(), "1 unread");
	assert.equal(await a.evaluate(() => window.__notReloaded), true, "no reload");
	await shot(a, "live");

	// The other organisation's member gets nothing, and a 404.
	await b.waitForTimeout(2000);
	assert.equal(await b.locator("#live-items li").count(), 0);
	const r = await b.goto(`${base}/advisories/${id}`);
	assert.equal(r.status(), 404);
	assert.equal(await b.locator("h1").innerText(), "Not found");
	await shot(b, "outsider-404");

	await a.getByRole("button", { name: "Mark all as read" }).click();
	assert.equal(await a.locator("#unread-count").innerText(), "");
	assert.equal(await item.locator(".unread-mark").count(), 0);
});

test("the live page resumes after the laptop sleeps", async () => {
	const a = people.member_a.page;
	await waitLive(a);
	// The network goes: what the server pushes on the open connection is
	// lost. An advisory is published meanwhile. Then the laptop sleeps:
	// the page's thread stops for 21 s. On waking, the page notices the
	// time that went by, drops the connection, reconnects with a fresh
	// ticket and resumes from its last event id: the item lost on the
	// old connection comes by replay, once.
	const before = relay.sockets.length;
	relay.muted.add(relay.sockets[before - 1]);
	const late = await publish({
		title: "Published while the laptop slept", tlp: "AMBER", severity: "high",
		audience: { organisations: [cfg.orgs.a.id] },
	});
	await a.waitForTimeout(1000);
	assert.equal(await a.locator(`#live-items li[data-id="${late.id}"]`).count(), 0,
		"the muted connection delivered nothing");
	await a.evaluate(() => {
		const end = Date.now() + 21000;
		while (Date.now() < end)
			;
	});
	const item = a.locator(`#live-items li[data-id="${late.id}"]`);
	await item.waitFor({ timeout: 20000 });
	await waitLive(a);
	assert.ok(relay.sockets.length > before, "a new connection after waking");
	assert.equal(await item.count(), 1, "shown once");
	assert.equal(await a.locator(`#live-items li[data-id="${amber.id}"]`).count(), 1);
	assert.match(await item.getAttribute("class"), /unread/);
});

test("switching to nl changes the wording", async () => {
	const a = people.member_a.page;
	await a.goto(base + "/live");
	assert.equal(await a.locator("h1").first().innerText(), "Live alerts");
	await a.getByLabel("Language").selectOption("nl");
	await Promise.all([
		a.waitForURL("**/live"),
		a.getByRole("button", { name: "Change" }).click(),
	]);
	await a.waitForLoadState();
	assert.equal(await a.locator("html").getAttribute("lang"), "nl");
	assert.match(await a.locator("h1").first().innerText(), /Live-waarschuwingen/);
	assert.ok(await a.getByRole("link", { name: "Mijn adviezen" }).isVisible());
	await waitLive(a);
	await shot(a, "live-nl");
	// An anonymous visitor whose browser prefers Dutch.
	const v = await person("visitor_nl", null, "nl-BE");
	await v.goto(base + "/");
	assert.equal(await v.locator("h1").innerText(), "Publieke beveiligingsadviezen");
	await shot(v, "public-nl");
});

test("an org-admin creates a webhook and sees its first delivery in the log", async () => {
	const o = await person("org_admin", cfg.tokens.org_admin_a);
	await o.goto(base + "/org/webhooks");
	await o.getByLabel("URL").fill(cfg.sink_url);
	await o.getByLabel("Format").selectOption("json");
	await o.getByRole("button", { name: "Create" }).click();
	await o.locator("#secret").waitFor();
	assert.match(await o.locator("#secret").innerText(), /^whsec_/);
	await shot(o, "webhook-created");
	await Promise.all([
		o.waitForURL(/\/org\/webhooks\/\d+\?tested=1$/),
		o.getByRole("button", { name: "Send a test" }).click(),
	]);
	// The log refreshes itself (refresh.js); wait for the delivery.
	await o.locator("#deliveries .state.delivered").waitFor({ timeout: 30000 });
	assert.match(await o.locator("#deliveries").innerText(), /webhook\.test/);
	await shot(o, "webhook-log");

	// The analyst follows an advisory's delivery to that endpoint.
	const adv = await publish({
		title: "Delivered by webhook", tlp: "AMBER", severity: "medium",
		audience: { organisations: [cfg.orgs.a.id] },
	});
	const p = people.publisher.page;
	await p.goto(`${base}/advisories/${adv.id}/deliveries`);
	await p.locator("#deliveries .state.delivered").waitFor({ timeout: 30000 });
	assert.match(await p.locator("#deliveries").innerText(), new RegExp(cfg.orgs.a.name));
	await shot(p, "deliveries");
});

test("the other pages render (screenshots)", async () => {
	const o = people.org_admin.page;
	for (const [path, name] of [["/org", "org"], ["/org/assets", "assets"], ["/advisories", "list"]]) {
		const r = await o.goto(base + path);
		assert.equal(r.status(), 200, path);
		await shot(o, name);
	}
	const p = people.publisher.page;
	for (const [path, name] of [["/staff/warnings", "warning-form"], [`/advisories/${amber.id}/edit`, "edit"]]) {
		const r = await p.goto(base + path);
		assert.equal(r.status(), 200, path);
		await shot(p, name);
	}
	// Keyboard: the skip link comes first and leads to the content.
	await p.goto(base + "/publish");
	await p.keyboard.press("Tab");
	assert.equal(await p.evaluate(() => document.activeElement.className), "skip");
	assert.deepEqual(problems, [], "CSP violations or script errors");
});
