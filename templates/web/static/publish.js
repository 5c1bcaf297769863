// publish.js: the advisory form's live previews. As the label or the
// audience changes, how many organisations and people the advisory would
// reach (POST /web/preview-audience, the API's preview with the session);
// as the text changes, the Markdown as it will read (rendered by the
// server with cmark in safe mode). Without this script the form's Preview
// button shows both.

const form = document.getElementById("publish-form");
const reach = document.getElementById("reach");
const preview = document.getElementById("body-preview");
const headers = { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf };

function values(name) {
	return Array.from(form.querySelectorAll(`[name="${name}"]`)).flatMap((el) => {
		if (el.tagName === "SELECT")
			return Array.from(el.selectedOptions).map((o) => o.value);
		if (el.type === "checkbox")
			return el.checked ? [el.value] : [];
		return el.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
	});
}

function audience() {
	const a = {};
	const orgs = values("aud_orgs").map(Number);
	if (orgs.length) a.organisations = orgs;
	const sectors = values("aud_sectors");
	if (sectors.length) a.sectors = sectors;
	const kinds = values("aud_kinds");
	if (kinds.length) a.kinds = kinds;
	const users = values("aud_users").map((u) => (/^\d+$/.test(u) ? Number(u) : u));
	if (users.length) a.users = users;
	return a;
}

function debounce(fn, ms) {
	let id;
	return () => { clearTimeout(id); id = setTimeout(fn, ms); };
}

async function updateReach() {
	const body = { tlp: form.elements.tlp.value };
	const a = audience();
	if (Object.keys(a).length) body.audience = a;
	try {
		const r = await fetch("/web/preview-audience", {
			method: "POST", credentials: "same-origin", headers, body: JSON.stringify(body),
		});
		const v = await r.json();
		reach.replaceChildren();
		if (r.ok) {
			let text = form.dataset.tReach.replace("{orgs}", v.organisations).replace("{people}", v.people);
			if (v.public) text += " · " + form.dataset.tReachPublic;
			reach.textContent = text;
			reach.dataset.organisations = v.organisations;
			reach.dataset.people = v.people;
		} else {
			const e = document.createElement("span");
			e.className = "error";
			e.textContent = v.detail || String(r.status);
			reach.append(e);
			delete reach.dataset.organisations;
		}
	} catch (e) {
		/* offline: the Preview button still works */
	}
}

async function updatePreview() {
	try {
		const r = await fetch("/web/preview-markdown", {
			method: "POST", credentials: "same-origin", headers,
			body: JSON.stringify({ markdown: form.elements.body.value }),
		});
		if (r.ok)
			preview.innerHTML = (await r.json()).html;	// cmark, safe mode
	} catch (e) {
		/* keep the last preview */
	}
}

const reachSoon = debounce(updateReach, 250);
const previewSoon = debounce(updatePreview, 400);
form.addEventListener("change", (ev) => {
	if (/^(tlp|aud_)/.test(ev.target.name)) reachSoon();
});
form.elements.aud_users.addEventListener("input", reachSoon);
form.elements.body.addEventListener("input", previewSoon);
updateReach();
