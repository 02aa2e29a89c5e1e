/**
 * Search highlights, rendered without ever parsing HTML.
 *
 * The server sends highlights as HTML: the stored text escaped (`&lt;`, `&amp;`, …), then the
 * matches wrapped in `<mark>…</mark>`. Inserting that with `innerHTML` would trust the server's
 * escaping with the page; instead the string is split on the two literal tags and every other
 * piece becomes a text node (its entities decoded). A `<script>` in a message can therefore
 * only ever show up as text, whatever the server sent.
 */

const NAMED_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** `&lt;b&gt; &amp; &#39;` → `<b> & '`; unknown entities stay as they are. */
export function decodeEntities(text) {
  return String(text).replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (entity, name) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isInteger(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return NAMED_ENTITIES[name.toLowerCase()] ?? entity;
  });
}

/**
 * `"…the <mark>budget</mark> &amp; plan…"` → `[{text: '…the ', mark: false}, {text: 'budget',
 * mark: true}, {text: ' & plan…', mark: false}]`. Only `<mark>` and `</mark>` are markup.
 * @param {string} html
 * @returns {{text: string, mark: boolean}[]}
 */
export function highlightSegments(html) {
  const segments = [];
  let mark = false;
  for (const piece of String(html ?? '').split(/(<\/?mark>)/i)) {
    if (/^<mark>$/i.test(piece)) mark = true;
    else if (/^<\/mark>$/i.test(piece)) mark = false;
    else if (piece) segments.push({ text: decodeEntities(piece), mark });
  }
  return segments;
}

/**
 * Marks every occurrence of `terms` in plain `text` (case-insensitive), for results found on
 * this device (offline search). Same shape as {@link highlightSegments}.
 * @param {string} text
 * @param {string[]} terms
 */
export function markTerms(text, terms) {
  const words = [...new Set(terms.map((term) => term.trim()).filter(Boolean))];
  if (!words.length) return [{ text, mark: false }];
  const pattern = new RegExp(`(${words.map(escapeRegExp).join('|')})`, 'gi');
  return String(text)
    .split(pattern)
    .filter(Boolean)
    .map((piece) => ({ text: piece, mark: words.some((word) => word.toLowerCase() === piece.toLowerCase()) }));
}

/** Segments as DOM nodes: text nodes and `<mark>` elements holding text nodes. */
export function segmentsFragment(segments, doc = globalThis.document) {
  const fragment = doc.createDocumentFragment();
  for (const { text, mark } of segments) {
    if (mark) {
      const element = doc.createElement('mark');
      element.textContent = text;
      fragment.append(element);
    } else {
      fragment.append(doc.createTextNode(text));
    }
  }
  return fragment;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
