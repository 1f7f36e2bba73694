/*
 * charts.js - the demo page's two small charts, drawn by the page itself:
 * events per second over the last minutes (canvas area chart) and the
 * pattern-type distribution of the table's rows (SVG bars).
 */

function cssVar(el, name, fallback) {
	const v = getComputedStyle(el).getPropertyValue(name).trim();
	return v || fallback;
}

/* A "nice" axis maximum: 1, 2, 5 x 10^n at or above v. */
export function niceMax(v) {
	if (!(v > 0))
		return 1;
	const p = Math.pow(10, Math.floor(Math.log10(v)));
	for (const m of [1, 2, 5, 10])
		if (m * p >= v)
			return m * p;
	return 10 * p;
}

/* samples: events per second, oldest first, one per second. */
export function drawRate(canvas, samples, span = 300) {
	const dpr = window.devicePixelRatio || 1;
	const cssW = canvas.clientWidth || 300;
	const cssH = canvas.clientHeight || 110;
	if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
		canvas.width = Math.round(cssW * dpr);
		canvas.height = Math.round(cssH * dpr);
	}
	const ctx = canvas.getContext('2d');
	ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
	ctx.clearRect(0, 0, cssW, cssH);
	const accent = cssVar(canvas, '--accent', '#38bdf8');
	const muted = cssVar(canvas, '--muted', '#8a9bb8');
	const line = cssVar(canvas, '--line', '#23314d');
	const padL = 30, padR = 6, padT = 8, padB = 16;
	const w = cssW - padL - padR, h = cssH - padT - padB;
	const data = samples.slice(-span);
	const max = niceMax(Math.max(1, ...data));

	ctx.font = '10px system-ui, sans-serif';
	ctx.fillStyle = muted;
	ctx.strokeStyle = line;
	ctx.lineWidth = 1;
	ctx.textAlign = 'right';
	ctx.textBaseline = 'middle';
	for (const f of [0, 0.5, 1]) {
		const y = Math.round(padT + h - f * h) + 0.5;
		ctx.beginPath();
		ctx.moveTo(padL, y);
		ctx.lineTo(padL + w, y);
		ctx.stroke();
		ctx.fillText(String(+(max * f).toFixed(1)), padL - 4, y);
	}
	ctx.textBaseline = 'alphabetic';
	ctx.textAlign = 'left';
	ctx.fillText(`-${Math.round(span / 60)} min`, padL, cssH - 3);
	ctx.textAlign = 'right';
	ctx.fillText('now', padL + w, cssH - 3);
	if (!data.length)
		return;
	const x = (i) => padL + w - (data.length - 1 - i) * (w / (span - 1));
	const y = (v) => padT + h - (Math.min(v, max) / max) * h;
	ctx.beginPath();
	ctx.moveTo(x(0), padT + h);
	data.forEach((v, i) => ctx.lineTo(x(i), y(v)));
	ctx.lineTo(x(data.length - 1), padT + h);
	ctx.closePath();
	const grad = ctx.createLinearGradient(0, padT, 0, padT + h);
	grad.addColorStop(0, accent + '88');
	grad.addColorStop(1, accent + '08');
	ctx.fillStyle = grad;
	ctx.fill();
	ctx.beginPath();
	data.forEach((v, i) => (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))));
	ctx.strokeStyle = accent;
	ctx.lineWidth = 1.6;
	ctx.stroke();
}

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
	const e = document.createElementNS(SVG, name);
	for (const [k, v] of Object.entries(attrs))
		e.setAttribute(k, String(v));
	if (text != null)
		e.textContent = text;
	return e;
}

/* counts: {label: n}. The top `max` labels, largest first. */
export function drawDist(svg, counts, max = 10) {
	const entries = Object.entries(counts).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, max);
	const width = svg.clientWidth || 300;
	const rowH = 19, labelW = 78, numW = 34;
	const height = Math.max(rowH, entries.length * rowH);
	svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
	svg.setAttribute('height', String(height));
	svg.replaceChildren();
	if (!entries.length) {
		svg.append(el('text', { x: 0, y: 14 }, 'no rows yet'));
		return;
	}
	const top = entries[0][1];
	const barW = Math.max(10, width - labelW - numW);
	entries.forEach(([label, n], i) => {
		const y = i * rowH;
		svg.append(el('text', { x: 0, y: y + 13 }, label));
		svg.append(el('rect', { class: 'bg', x: labelW, y: y + 4, width: barW, height: 11, rx: 3 }));
		svg.append(el('rect', { class: 'fg', x: labelW, y: y + 4, width: Math.max(2, (n / top) * barW), height: 11, rx: 3 }));
		svg.append(el('text', { class: 'n', x: width, y: y + 13, 'text-anchor': 'end' }, String(n)));
	});
}
