// Writes dist/index.mjs: named ESM exports over the CommonJS build, so
// `import { socket } from 'bsd-sockets'` and require() share one instance.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const cjs = require(path.join(dist, 'index.js'));
const names = Object.keys(cjs).filter((name) => name !== 'default' && name !== '__esModule');
const source =
  "import cjs from './index.js';\n" +
  `export const { ${names.join(', ')} } = cjs;\n` +
  'export default cjs;\n';
fs.writeFileSync(path.join(dist, 'index.mjs'), source);
