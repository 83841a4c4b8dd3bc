/**
 * The benchmark's memory load (bench/README, `npm run bench`): text-like data that compresses
 * about like real text (2-3x with LZ4), plus incompressible bytes, written into a tmpfs so that
 * every contender hibernates the same RAM contents. Deterministic: the same sizes give the same
 * bytes on every boot, so runs differ only in the contender.
 *
 *   node bench-data.js DIR TEXT_MIB RANDOM_MIB      → DIR/text, DIR/random
 *
 * The text is a few MiB of generated prose (a seeded vocabulary and phrase table, Zipf-like
 * frequencies, sentences and paragraphs), laid out in 1 MiB blocks that each start at another seeded place
 * in it. Both compressors measured (the kernel's LZO, hiberkit's LZ4) work on 128 KiB chunks
 * with windows of at most 64 KiB, so repeats a MiB apart are invisible to them: every chunk
 * compresses like fresh text. Generating only the corpus keeps this fast under emulation.
 */
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { emit } from '../report.js';

const MIB = 1 << 20;
const CORPUS_BYTES = 2 * MIB;
const VOCABULARY_WORDS = 3000;
const PHRASES = 3000;
const SEED = 0x68b3c2a1;

/** mulberry32: a tiny seeded generator, plenty for shaping text. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const SYLLABLES = ['an', 'be', 'con', 'de', 'en', 'for', 'ge', 'in', 'ka', 'le', 'men', 'no', 'or', 'pro', 're', 'sa', 'ter', 'ti', 'un', 'ver', 'wa', 'st', 'th', 'ing', 'al', 'er', 'ou', 'ly', 'is', 'at'];

/**
 * A Zipf-like pick: raising the uniform draw to a high power makes the first entries very common
 * and most others rare, as words and phrases are in real prose.
 */
function skewedPick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() ** 5 * items.length)]!;
}

/**
 * Real text repeats whole phrases, not just words: that is what gives LZ compressors their
 * 2.5-3x on prose. Sentences are therefore built from a table of recurring 3-5 word phrases.
 * (Tuned so LZ4 on 128 KiB chunks gives about 2.5x; real English prose gives 2.6-3.)
 */
function phraseTable(random: () => number): string[] {
  const words: string[] = [];
  for (let i = 0; i < VOCABULARY_WORDS; i++) {
    const syllables = 1 + Math.floor(random() * random() * 4);
    let word = '';
    for (let s = 0; s < syllables; s++) word += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    words.push(word);
  }
  const phrases: string[] = [];
  for (let i = 0; i < PHRASES; i++) {
    const length = 3 + Math.floor(random() * 3);
    phrases.push(Array.from({ length }, () => skewedPick(words, random)).join(' '));
  }
  return phrases;
}

/** `bytes` of generated prose: sentences of 2-6 phrases, the odd number and comma, paragraphs. */
export function textCorpus(bytes: number, seed = SEED): Buffer {
  const random = seededRandom(seed);
  const phrases = phraseTable(random);
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    const count = 2 + Math.floor(random() * 5);
    let sentence = '';
    for (let i = 0; i < count; i++) {
      let phrase = random() < 0.02 ? String(Math.floor(random() * 10_000)) : skewedPick(phrases, random);
      if (i === 0) phrase = phrase.charAt(0).toUpperCase() + phrase.slice(1);
      sentence += i === 0 ? phrase : random() < 0.1 ? `, ${phrase}` : ` ${phrase}`;
    }
    sentence += random() < 0.15 ? '.\n\n' : '. ';
    parts.push(sentence);
    length += sentence.length;
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, bytes);
}

/** Block `index` of the text file: MIB bytes of the corpus from a seeded start, wrapping around. */
export function textBlock(corpus: Buffer, index: number, block: Buffer): Buffer {
  const start = Math.floor(seededRandom(SEED ^ (index * 0x9e3779b1))() * corpus.length);
  const first = corpus.copy(block, 0, start, Math.min(corpus.length, start + block.length));
  let filled = first;
  while (filled < block.length) filled += corpus.copy(block, filled, 0, Math.min(corpus.length, block.length - filled));
  return block;
}

function writeFile(path: string, mib: number, fill: (index: number) => Buffer): void {
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i++) writeSync(fd, fill(i));
  } finally {
    closeSync(fd);
  }
}

function writeBenchData(dir: string, textMiB: number, randomMiB: number): void {
  mkdirSync(dir, { recursive: true });
  const corpus = textCorpus(CORPUS_BYTES);
  const block = Buffer.alloc(MIB);
  writeFile(join(dir, 'text'), textMiB, (i) => textBlock(corpus, i, block));
  // AES-CTR over zeros with a fixed key: incompressible, yet the same bytes on every boot.
  const keystream = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(MIB);
  writeFile(join(dir, 'random'), randomMiB, () => keystream.update(zeros));
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [dir, textMiB, randomMiB] = process.argv.slice(2);
  const started = performance.now();
  writeBenchData(dir!, Number(textMiB), Number(randomMiB));
  emit('RESULT', { phase: 'data', textMiB: Number(textMiB), randomMiB: Number(randomMiB), ms: Math.round(performance.now() - started) });
}
