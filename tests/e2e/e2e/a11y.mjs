// Accessibility checks for the end-to-end test: axe-core (npm, injected
// into the page) against WCAG 2.0/2.1 A and AA. A serious or critical
// violation fails the test; every result is written to
// tests/e2e/output/axe-<name>.json for review (moderate and minor ones
// included).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

import { OUTPUT } from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const FAILING = new Set(['serious', 'critical']);

/* Runs axe on the page as it is now; returns the failing violations,
 * each as "rule (impact): help — selectors". */
export async function axeViolations(page, name) {
	if (!(await page.evaluate(() => typeof window.axe === 'object')))
		await page.addScriptTag({ path: AXE });
	const result = await page.evaluate((tags) => window.axe.run(document, {
		runOnly: { type: 'tag', values: tags },
		resultTypes: ['violations'],
	}), TAGS);
	fs.writeFileSync(path.join(OUTPUT, `axe-${name}.json`), JSON.stringify(result.violations, null, 1));
	return result.violations
		.filter((v) => FAILING.has(v.impact))
		.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join(', ')}` +
			`${v.nodes.length > 5 ? ` and ${v.nodes.length - 5} more` : ''}`);
}

/* Counts changes to live regions (what a screen reader would speak)
 * while fn runs. */
export async function liveRegionChanges(page, fn) {
	await page.evaluate(() => {
		window.__liveChanges = [];
		window.__liveObserver = new MutationObserver((records) => {
			for (const r of records) {
				const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
				const region = el && el.closest('[aria-live], [role=status], [role=alert], [role=log]');
				if (region && region.getAttribute('aria-live') !== 'off')
					window.__liveChanges.push(`${region.id || region.tagName}: ${region.textContent.trim().slice(0, 80)}`);
			}
		});
		window.__liveObserver.observe(document.body, { subtree: true, childList: true, characterData: true });
	});
	await fn();
	return page.evaluate(() => {
		window.__liveObserver.disconnect();
		return window.__liveChanges;
	});
}
