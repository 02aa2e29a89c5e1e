import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeEntities, highlightSegments, markTerms } from '../app/highlight.js';

test('a server highlight becomes text and marks; nothing else is markup', () => {
  assert.deepEqual(highlightSegments('…the <mark>budget</mark> &amp; plan…'), [
    { text: '…the ', mark: false },
    { text: 'budget', mark: true },
    { text: ' & plan…', mark: false },
  ]);
});

test('escaped HTML from a message stays text, whatever tags it names', () => {
  const segments = highlightSegments('&lt;img src=x onerror=alert(1)&gt; <mark>axolotl</mark> &lt;/mark&gt;&lt;script&gt;');
  assert.deepEqual(segments, [
    { text: '<img src=x onerror=alert(1)> ', mark: false },
    { text: 'axolotl', mark: true },
    { text: ' </mark><script>', mark: false },
  ]);
});

test('tags other than mark are shown as the text they are', () => {
  assert.deepEqual(highlightSegments('<b>x</b>'), [{ text: '<b>x</b>', mark: false }]);
  assert.deepEqual(highlightSegments(null), []);
});

test('entities: named, decimal and hex; unknown ones are left alone', () => {
  assert.equal(decodeEntities('&lt;&gt;&amp;&quot;&#39;&#x27;&#128512;&bogus;'), '<>&"\'\'😀&bogus;');
  assert.equal(decodeEntities('&#0;&#x110000;'), '&#0;&#x110000;');
});

test('local marks: every term, any case, regex characters taken literally', () => {
  assert.deepEqual(markTerms('Budget (draft) BUDGET', ['budget', '(draft)']), [
    { text: 'Budget', mark: true },
    { text: ' ', mark: false },
    { text: '(draft)', mark: true },
    { text: ' ', mark: false },
    { text: 'BUDGET', mark: true },
  ]);
  assert.deepEqual(markTerms('nothing here', []), [{ text: 'nothing here', mark: false }]);
});
