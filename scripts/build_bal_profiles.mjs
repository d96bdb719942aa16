// Export the reference validator's schema fields (order, required, formats, regional variants),
// its profiles (errors / warnings lists), its error labels and the regional language codes into src/guichet/bal/data/profiles.json.
//
// Usage (after `npm ci` in a copy of ../shared/bal/reference/node):
//   node scripts/build_bal_profiles.mjs /tmp/bal/reference/node
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const nodeDir = process.argv[2];
if (!nodeDir) {
  console.error('usage: node build_bal_profiles.mjs <reference node dir>');
  process.exit(2);
}
const require = createRequire(join(nodeDir, 'package.json'));
const pkg = '@ban-team/validateur-bal';
const version = require(`${pkg}/package.json`).version;
const profiles = require(`${pkg}/dist/schema/profiles/index.js`).default;
const labels = require(`${pkg}/dist/schema/error-labels.js`).default;
const fields = require(`${pkg}/dist/schema/fields.js`).default;
const langs = require('@ban-team/shared-data/langues-regionales.json').map((l) => l.code);

const out = {
  source: `${pkg} ${version}`,
  langs,
  profiles: Object.fromEntries(
    Object.entries(profiles).map(([key, p]) => [
      key,
      { code: p.code, name: p.name, format: p.format, isUsed: p.isUsed, relax: p.relax,
        errors: p.errors, warnings: p.warnings },
    ]),
  ),
  fields: Object.entries(fields).map(([name, f]) => ({
    name, required: Boolean(f.required), trim: Boolean(f.trim),
    allowRegionalLang: Boolean(f.allowRegionalLang), formats: f.formats,
  })),
  labels,
};
const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'src', 'guichet', 'bal', 'data', 'profiles.json');
writeFileSync(target, JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${target}`);
