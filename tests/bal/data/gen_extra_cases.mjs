#!/usr/bin/env node
// Extra value-level cases for tests/bal/test_{text,values,proj}.py, produced by the reference's
// own code (@ban-team/validateur-bal 3.5.2 and the packages it uses), to complement
// ../shared/bal/vectors/. Deterministic (seeded PRNG, frozen clock, run with TZ=UTC):
//
//   TZ=UTC node tests/bal/data/gen_extra_cases.mjs /tmp/bal/reference/node > tests/bal/data/extra_cases.json
//
// Sections: trim, words, deburr, normalize (incl. the inputs that make it throw), written
// (written-number fr), readValue (plus a few with other "now" times), proj (raw proj4 output
// and project-legal's rounded one, random points in every zone).
import { createRequire } from 'node:module';
import { join } from 'node:path';

const nodeDir = process.argv[2] || '/tmp/bal/reference/node';
const require = createRequire(join(nodeDir, 'package.json'));

const RealDate = Date;
let fixed = new RealDate('2026-11-22T12:00:00').getTime();
class FakeDate extends RealDate {
  constructor(...a) { if (a.length === 0) super(fixed); else super(...a); }
  static now() { return fixed; }
}
globalThis.Date = FakeDate;

const bal = require('@ban-team/validateur-bal');
const { normalize } = require('@ban-team/adresses-util/lib/voies');
const writtenNumber = require('written-number');
const _ = require('lodash');
const proj4 = require('proj4');
const projectLegal = require('@etalab/project-legal');
const projections = require('@etalab/project-legal/projections.json');

// mulberry32
let seed = 20261122;
function rand() {
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const fuzz = (pool, maxTokens) => {
  const n = 1 + Math.floor(rand() * maxTokens);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(pool);
  return s;
};

const WORD_POOL = ['a', 'B', 'rue', 'RUE', 'Rue', 'de', 'l', "'", '’', ' ', ' ', '  ', '-', '_', '.', ',', '1', '2', '3',
  '21', '1st', '2ND', '3rd', '4th', '11TH', 'é', 'É', 'ß', 'ÿ', 'Þ', '×', '÷', 'œ', 'Œ', 'ł', 'ĳ', 'ŉ', 'ſ', '\u0301', '\u20d7', '\ufe20',
  '🌳', '👍🏽', '🇫🇷', '👨\u200d👩', '✂', '\ufe0f', '\u00a0', '\t', '\n', '中', 'α', 'Σ', '٣', '!', '?', '\u2000', '\u2019s',
  "'ll", "'VE", 'camel', 'Case', 'ABC', 'xY', 'İ', 'ı', '\ud83c', '\u200d', '\u180e', '\ufeff', 'Ø', 'ø', 'º', 'ª', 'µ', '²', '¼'];
const NAME_POOL = ['Rue', 'rue', 'RUE', 'de', 'la', 'Le', 'les', "l'", 'L’', 'd’', 'du', 'des', 'Lieu', 'dit', 'lieu-dit', 'St', 'ste', 'Ste',
  'Gal', 'mal', 'Av', 'pl', 'BD', 'r', 'imp', 'Ham', 'Chem', 'all', 'grande', 'Grande-Rue', 'Ruelle', 'église', 'Église', 'Écoles',
  'a', 'à', 'au', 'aux', 'et', 'sur', 'sous', 'par', 'dos', 'las', 'los', '0', '1', '007', '21', '80', '81', '100', '200', '201',
  '1000', '2000', '80000', '1000000', '1er', '3b', '2nd', 'Œuvre', 'ß', 'Straße', 'ĳssel', '-', ' ', ' ', '_', '.', "'", '🌳',
  'tostring', 'hasownproperty', 'proto', 'valueof', 'chemin', 'rue', 'rue'];
const WS = ['\t', '\n', '\v', '\f', '\r', ' ', '\u00a0', '\u1680', '\u2000', '\u2005', '\u200a', '\u2028', '\u2029', '\u202f',
  '\u205f', '\u3000', '\ufeff', '\u001c', '\u001f', '\u0085', '\u180e', '\u200b'];

const out = { today: '2026-11-22', now: '2026-11-22T12:00:00', tz: 'UTC' };

// --- trim / length
out.trim = [];
for (let i = 0; i < 200; i++) {
  const s = fuzz(WS, 3) + fuzz(['a', 'é', '🌳', ' ', '\u00a0'], 3) + fuzz(WS, 3);
  out.trim.push({ input: s, trim: s.trim(), length: s.length });
}

// --- lodash words / deburr
out.words = [];
out.deburr = [];
for (let i = 0; i < 700; i++) {
  const s = fuzz(WORD_POOL, 8);
  out.words.push({ input: s, words: _.words(s) });
  out.deburr.push({ input: s, output: _.deburr(s) });
}
for (const s of ['', ' ', 'abc', 'a b  c', 'ABCdef', 'abcDEF', 'a1', '1a', 'x_y', 'fooBar', 'FOOBar', '1ST', '1st_', '21st', '12th',
  '13TH', '111th', '\u00c0\u00c1', 'a\u0301', '\ud83c\udff3', 'a\ud83cb', 'é\ud800']) {
  out.words.push({ input: s, words: _.words(s) });
  out.deburr.push({ input: s, output: _.deburr(s) });
}

// --- normalize
out.normalize = [];
const normalizeCase = (s) => {
  try { return { input: s, output: normalize(s) }; } catch (e) { return { input: s, exception: `${e.name}: ${e.message}` }; }
};
for (let i = 0; i < 600; i++) out.normalize.push(normalizeCase(fuzz(NAME_POOL, 6)));
for (const s of ['constructor', 'Rue constructor', 'rue Constructor', 'rue grande-rue constructor', 'rue constructor grande-rue',
  'Av constructor', 'lieu dit constructor', 'CONSTRUCTOR 12', 'constructors', 'Rue 99999999999999999999999999',
  `Rue ${'9'.repeat(400)}`, 'Rue ١٢', 'Rue 1e3', 'Lieu dit', 'lieu dit x', 'rue', 'rue rue', 'rue de la rue', 'Rue ruelle']) {
  out.normalize.push(normalizeCase(s));
}

// --- written-number fr (as normalize calls it: a digit string)
out.written = [];
const numbers = [];
for (let n = 0; n <= 300; n++) numbers.push(String(n));
for (let n = 301; n <= 100000; n = Math.floor(n * 1.07) + 1) numbers.push(String(n));
for (const n of ['2000', '80000', '80080', '100000', '101000', '180000', '1000000', '1000001', '2000000', '21000000',
  '1000000000', '999999999999', '1000000000000000000000', '123456789012345678901234567890', '9'.repeat(48), '1'.repeat(60),
  '0000', '0012', '9'.repeat(400)]) numbers.push(n);
for (let i = 0; i < 200; i++) {
  const digits = 1 + Math.floor(rand() * 40);
  let s = String(1 + Math.floor(rand() * 9));
  for (let j = 1; j < digits; j++) s += String(Math.floor(rand() * 10));
  numbers.push(s);
}
for (const s of numbers) out.written.push({ input: s, output: writtenNumber(s, { lang: 'fr' }) });

// --- readValue
const readCase = (field, raw, isLocalized) => {
  let res;
  try { res = bal.readValue(field, raw, isLocalized); } catch (e) { res = { exception: String(e) }; }
  return { field, raw, isLocalized, ...JSON.parse(JSON.stringify(res)) };
};
const inputs = {
  cle_interop: ['91534_1111_00001', 'ß1534_1111_00001', '91534_ÿÿÿÿ_00001', '91534_🌳🌳_00001', '91534_🌳_00001', '91534_ß_00001',
    '91534_1111_00001\n', '91534_1111_0001\n_a', '91534_1111_00001_ß', '91534_1111_00001_É', '97501_1111_00001', '01340_1111_00001',
    '2B033_X1X1_00002', '91534_XXXx_00001', '91534_xXxX_12', '91534_1111_000000001', '91534_1111_0', '91534_1111_-1',
    '91534_1111_00001__', '___', '1_2_3', 'a_b_c', '91534 _1111_00001', '91534_1111_００１'],
  uid_adresse: ['@c:0246e48c-f33d-433a-8984-034219be842e', '@C:0246e48c-f33d-433a-8984-034219be842e',
    '@v:0246e48c-f33d-433a-8984-034219be842e\u00a0@a:3c87abe4-887b-46ee-9192-5c1b35a06625',
    '@v:0246e48c-f33d-433a-8984-034219be842e\u200b', 'x@a:3c87abe4-887b-46ee-9192-5c1b35a06625y',
    '@a:3c87abe4-887b-46ee-9192-5c1b35a06625,@v:x', '@a: 3c87abe4-887b-46ee-9192-5c1b35a06625', '@a:', 'a@a:',
    '@c:FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '@v:8a3bab10-f329-4ce3-9c7d-280d91a8053a\t@v:zzz'],
  id_ban_toponyme: ['8a3bab10-f329-4ce3-9c7d-280d91a8053a', '8A3BAB10-F329-4CE3-BC7D-280D91A8053A', '8a3bab10-f329-4ce3-9c7d-280d91a8053a\n',
    '8a3bab10-f329-4ce3-ac7d-280d91a8053g', '{8a3bab10-f329-4ce3-9c7d-280d91a8053a}', 'ffffffff-ffff-ffff-ffff-ffffffffffff'],
  id_ban_adresse: ['3c87abe4-887b-46ee-9192-5c1b35a06625', '3c87abe4-887b-56ee-9192-5c1b35a06625'],
  voie_nom: ['Ab', 'Abc', 'a🌳', '🌳', 'ab\u0301', 'x'.repeat(199) + '🌳', 'x'.repeat(198) + '🌳', '___', 'a_', 'Rue\ufffd',
    'ÉCOLE_DES_FILLES', 'straße', 'STRASSE', 'İstanbul', 'ǅungla', 'ǅ', 'ﬀ', 'ΣΑΣ', 'Σας', '١٢٣', 'Rue\u0085', '\u0085Rue',
    '\u001cRue', 'Rue\u200b', '\u180eRue'],
  toponyme: ['Le Bourg', 'LE BOURG', 'Le_Bourg', 'Lb'],
  lieudit_complement_nom: ['\u00a0Le Bourg\u3000', '\ufeff'],
  numero: ['99999', '099999', '100000', '0099999', '00000000000000000000001', '99999999999999999999999', '1 ', '\u00a01',
    '１', '0x1', '1_000', '-0'],
  suffixe: ['a\u00a0b', 'a\u3000b', 'a\u200bb', 'a\tb', 'a\nb', 'ſ', 'K', 'aſ', 'aK', 'aǅ', 'ÿ', 'aÿ', 'aŸ', 'aœ', 'a🌳',
    'abcdefgh🌳', 'abcdefg🌳', '1', '9ème', 'B\u0301', 'Bé', 'bé\u0301', 'a\u0085'],
  commune_insee: ['2b033', '2B033', 'ß', '75112', '69381', '13201', '97101', '97611', '98811', '98611', '00000', '9153'],
  commune_nom: ['saclay', 'SACLAY', 'Saclay', '1', 'ß', 'ǅ', 'İ', '🌳', 'a🌳', 'A🌳'],
  commune_deleguee_insee: ['12076', '75056', 'ß', '2b033', ' 91534'],
  position: ['ENTRÉE', 'Entre\u0301e', 'entr\u00e9e', '  entrée', 'entrée.', '.entrée', 'entrée-', 'entrée!', 'ENTREE ', 'bâtiment',
    'Bâtiment', 'BATIMENT', 'cage-d’escalier', 'cage d’ escalier', 'cage  d  escalier', 'Cage_d_escalier', 'cage d`escalier',
    'cage d"escalier', 'SERVICE TECHNIQUE', 'service\ttechnique', 'service\u00a0technique', 'délivrance-postale', 'Délivrance Postale',
    'délivrance\u0301 postale', 'parcelle ', 'PARCELLE', 'Segment', 'segments', 'logement!', 'logemen', 'ŀogement', 'ﬁ', 'entrée🌳',
    '🌳entrée', 'entrée\u2019', 'Ｅntrée'],
  x: ['00', '05', '012', '0.50', '0.5.5', '-', '-.5', '-0.0', '-00', '1.05', '1,', ',5', '1,05', '1.0,5', '10.', '1e-5', 'Infinity',
    'NaN', '0x10', '1_0', '١', '1.١', '123456789012345678901234567890', '1.00000000000000000001', '0.1234567890123456789',
    '-123.456', '9007199254740993', '1.7976931348623157e308', '2.5e-324'],
  lat: ['48.5', '48,5', '-90', '90.0000001'],
  cad_parcelles: ['||35047000AS0562||', '35047000AS0562|||35047000AS0563', '350047000AS056🌳', '35047000AS05🌳', '3🌳047000AS0562',
    '35🌳047000AS056', '35047000AS0562|350047000AS0563|35047000AS0564', 'abcdefghijklmn', 'abcdefghijklmno', 'abcdefghijklmnop',
    ' |35047000AS0562', '35047000AS0562 | 35047000AS0563', 'é5047000AS0562'],
  source: ['\u001csource', 'source\u0085', '\ufeffsource'],
  date_der_maj: ['0000-01-01', '0000-02-29', '0001-02-29', '0004-02-29', '1900-02-29', '2000-02-29', '2024-02-29', '2023-02-29',
    '2021-00-10', '2021-01-00', '2021-04-31', '2021-12-31', '9999-12-31', '2026-11-21', '2026-11-23', '2026-11-22 11:59',
    '2026-11-22 12:00', '2026-11-22 12:01', '2026-11-22 00:00', '1/1/10', '31/12/09', '1/1/2010', '2/1/2010', '01/13/2021',
    '1 Juil 2021', '1 juil. 2021', '1 juil.. 2021', '1 JUILLET 2021', '1 j 2021', '1 J 2021', '1 août 2021', '1 AOÛT 2021',
    '1 aout 2021', '1 févr 2021', '1 FÉVR. 2021', '1 fevrier 2021', '1 Février 2021', '32 mai 2021', '3 mai 21', '03 mai 2021',
    '003 mai 2021', '31 avril 2021', '29 février 2024', '29 février 2023', '1 mars 2021', '1 marss 2021', '1 m 2021', '1 a 2021',
    '1 s 2021', '1 o 2021', '1 n 2021', '1 d 2021', '1 x 2021', '1 ſept 2021', '1 sept 2021', '1 septembre 2021', '1 déc 2021',
    '1 DÉCEMBRE 2021', '1 decembre 2021', '1 janv. 2021', '1 janvier 2021', '1  mai 2021', '1 mai  2021', '1\u00a0mai 2021',
    '15/01/75', '15/01/76', '15/01/5', '15/01/00', '15/1/26', '23/11/26', '22/11/26', '2021/1/5', '2021-1-5 1:5',
    '2021-01-05 24:00', '2021-01-05 23:60', '2021-01-05 23:59', '01-01-2021', '2021 1 5', '5 1 2021', '١٢/01/2021',
    '2021-01-15 10:30 ', '15/01/2021x', '2021-01-05 10:30:00', '15/01/2021 10:30', '15.01.2021', '2021-13-01 10:00',
    '2021-02-29 10:00', '12021-01-01', '021-01-01', '2021-01-1', '2021-1-01', '2021-001-01', '15/01/20211', '15/001/2021',
    '1/1/1', '1/1/0001', '1/1/0', '1/1/00', '10000-01-01', '2010-01-01 00:00', '2010-01-01 00:01', '01/01/10', '02/01/10',
    '2010/01/01', '2010/01/02', '2026/11/22', '2026/11/23', '+2021-01-01', '2021\u00a0-01-01', '2021-01-01\u2028'],
  certification_commune: ['1 ', '\u00a00', '00', 'true', '+1'],
};
const FIELDS = ['cle_interop', 'uid_adresse', 'id_ban_commune', 'id_ban_toponyme', 'id_ban_adresse', 'voie_nom', 'toponyme',
  'lieudit_complement_nom', 'numero', 'suffixe', 'commune_insee', 'commune_nom', 'commune_deleguee_insee', 'commune_deleguee_nom',
  'position', 'x', 'y', 'long', 'lat', 'cad_parcelles', 'source', 'date_der_maj', 'certification_commune'];
out.readValue = [];
for (const [field, values] of Object.entries(inputs)) {
  for (const v of values) {
    for (const isLocalized of [false, true]) {
      if (isLocalized && !['voie_nom', 'commune_nom', 'lieudit_complement_nom', 'toponyme', 'commune_deleguee_nom'].includes(field)) continue;
      out.readValue.push(readCase(field, v, isLocalized));
    }
  }
}
for (const v of ['', '  ', '\u00a0']) {
  for (const field of FIELDS) {
    for (const isLocalized of [false, true]) out.readValue.push(readCase(field, v, isLocalized));
  }
}
out.readValue.push(readCase('unknown_field', 'x', false));

// the same date inputs against other clocks ("now" = that local time)
out.readValueAt = [];
for (const now of ['2026-11-22T00:00:00', '2026-11-22T11:59:30', '2026-11-22T23:59:59.999', '2025-01-01T00:00:00', '2075-06-01T08:00:00']) {
  fixed = new RealDate(now).getTime();
  for (const v of ['2026-11-22', '2026-11-23', '2026-11-22 00:00', '2026-11-22 11:59', '2026-11-22 12:00', '2026-11-22 23:59',
    '2025-01-01', '2024-12-31 23:59', '31/12/24', '15/01/75', '15/01/76', '15/01/24', '15/01/25', '15/01/26', '2075-06-01 07:59', '1 juin 2075']) {
    out.readValueAt.push({ now, ...readCase('date_der_maj', v, false) });
  }
}
fixed = new RealDate('2026-11-22T12:00:00').getTime();

// --- proj: random points in every zone (and around the bboxes), proj4's raw output too
out.proj = [];
const raw = projections.map((p) => proj4('EPSG:4326', p.proj4));
for (const [i, p] of projections.entries()) {
  const [minX, minY, maxX, maxY] = p.bounds;
  for (let k = 0; k < 25; k++) {
    const lon = minX + (maxX - minX) * rand();
    const lat = minY + (maxY - minY) * rand();
    out.proj.push({ input: [lon, lat], zone: p.epsg, raw: raw[i].forward([lon, lat]), output: projectLegal([lon, lat]) });
  }
  for (const [lon, lat] of [[minX, minY], [maxX, maxY], [minX, maxY], [maxX, minY]]) {
    out.proj.push({ input: [lon, lat], zone: p.epsg, raw: raw[i].forward([lon, lat]), output: projectLegal([lon, lat]) });
  }
}
for (const pt of [[180, 90], [-180, -90], [180.0000001, 0], [0, -90.1], [-177, -13.5], [-150, -20], [-144, -20], [-138, -20]]) {
  let o;
  try { o = projectLegal(pt); } catch (e) { o = { exception: e.message }; }
  out.proj.push({ input: pt, output: o });
}

process.stdout.write(JSON.stringify(out));
