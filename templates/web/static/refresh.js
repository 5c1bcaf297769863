// refresh.js: keep a delivery log current without reloading the page:
// every data-refresh seconds, fetch this page again and swap the region
// (paused while the tab is hidden).

const region = document.querySelector("[data-refresh]");
if (region) {
	const every = Math.max(2, Number(region.dataset.refresh) || 10) * 1000;
	setInterval(async () => {
		if (document.visibilityState !== "visible")
			return;
		try {
			const r = await fetch(location.pathname, { credentials: "same-origin" });
			if (!r.ok)
				return;
			const doc = new DOMParser().parseFromString(await r.text(), "text/html");
			const fresh = doc.getElementById(region.id);
			if (fresh)
				region.replaceChildren(...fresh.childNodes);
		} catch (e) {
			/* try again next time */
		}
	}, every);
}
