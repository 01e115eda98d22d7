#!/usr/bin/env node
// Builds the tokenizer benchmark corpus: a few MB of mixed text, the same bytes on every run
// (seeded PRNG), one document per line group. Mixes English-like prose drawn from real words,
// invented words (so that BPE has real merging to do, not just cache hits), source code,
// numbers, CJK, Cyrillic, Arabic, accented Latin and emoji.
//
// usage: node make_corpus.js OUTPUT.txt [MEGABYTES]   (default 4)

'use strict';

const fs = require('fs');

function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(20241126);
const pick = (list) => list[Math.floor(rand() * list.length)];
const int = (n) => Math.floor(rand() * n);

const WORDS = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there one all we their been has when who will more no if out so said what up its about into ' +
  'than them can only other new some could time these two may then do first any my now such like our over man me ' +
  'even most made after also did many before must through back years where much your way well down should because ' +
  'each just those people how too little state good very make world still own see men work long get here between ' +
  'both life being under never day same another know while last might us great old year off come since against go ' +
  'came right used take three network payment invoice channel server client model token layer tensor gradient ' +
  'lightning macaroon routing inference decentralized contributor throughput latency bandwidth cryptographic'
).split(' ');
const SYLLABLES = 'ka ro mi zu ten bal qui stra pho nex vor lin dra gel op un re ex tion ment ing ly ous'.split(' ');
const CJK = '的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从'.split('');
const CYRILLIC = 'привет мир это тестовый текст для проверки токенизатора на русском языке'.split(' ');
const ARABIC = 'مرحبا بالعالم هذا نص تجريبي لاختبار المحلل'.split(' ');
const ACCENTED = 'café naïve résumé Ångström façade jalapeño über straße œuvre São Paulo Zürich'.split(' ');
const EMOJI = ['🚀', '🔥', '👍🏽', '😂', '❤️', '🇫🇷', '👨‍👩‍👧', '✅', '🎉', '🤖'];

function inventedWord() {
  let w = '';
  const n = 2 + int(3);
  for (let i = 0; i < n; ++i) w += pick(SYLLABLES);
  return w;
}

function sentence() {
  const n = 6 + int(14);
  const words = [];
  for (let i = 0; i < n; ++i) {
    const r = rand();
    if (r < 0.12) words.push(inventedWord());
    else if (r < 0.15) words.push(String(int(100000)));
    else if (r < 0.17) words.push(pick(ACCENTED));
    else words.push(pick(WORDS));
  }
  let s = words.join(' ');
  s = s[0].toUpperCase() + s.slice(1);
  if (rand() < 0.1) s += ` (${pick(["it's", "don't", "we'll", "they've", 'DON\'T', "I'm"])})`;
  return s + pick(['.', '.', '.', '?', '!', ';', ':']);
}

function prose() {
  const n = 2 + int(6);
  const out = [];
  for (let i = 0; i < n; ++i) out.push(sentence());
  return out.join(' ');
}

function code() {
  const name = inventedWord();
  return [
    `int ${name}(const std::vector<int>& values, int limit) {`,
    `  int total = 0;  // sum of the first ${int(64)} values`,
    '  for (std::size_t i = 0; i < values.size() && i < limit; ++i) {',
    `    total += values[i] * ${int(1000)} + 0x${int(65536).toString(16)};`,
    '  }',
    `  return total > ${int(1000)} ? total : -1;`,
    '}',
    '',
    `def ${name}_py(items):`,
    `    return [x ** 2 for x in items if x % ${1 + int(9)} == 0]`,
  ].join('\n');
}

function multilingual() {
  const parts = [];
  let cjk = '';
  for (let i = 0; i < 10 + int(30); ++i) cjk += pick(CJK);
  parts.push(cjk + '。');
  for (let i = 0; i < 3 + int(6); ++i) parts.push(pick(CYRILLIC));
  for (let i = 0; i < 2 + int(4); ++i) parts.push(pick(ARABIC));
  parts.push(pick(EMOJI) + pick(EMOJI));
  parts.push(`${int(10000)}.${int(100)} ${int(2030)}-${1 + int(12)}-${1 + int(28)}`);
  return parts.join(' ');
}

function main() {
  const out = process.argv[2];
  const megabytes = Number(process.argv[3] || 4);
  if (!out || !(megabytes > 0)) {
    console.error('usage: node make_corpus.js OUTPUT.txt [MEGABYTES]');
    process.exit(2);
  }
  const target = megabytes * 1e6;
  const chunks = [];
  let size = 0;
  while (size < target) {
    const r = rand();
    const doc = r < 0.6 ? prose() : r < 0.8 ? code() : multilingual();
    const text = doc + '\n' + (rand() < 0.3 ? '\n' : '');
    chunks.push(text);
    size += Buffer.byteLength(text);
  }
  fs.writeFileSync(out, chunks.join(''));
  console.log(`wrote ${size} bytes to ${out}`);
}

main();
