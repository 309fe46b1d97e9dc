#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  // `npm install` in a clone builds it (the `prepare` script); a failed or skipped build lands here.
  console.error('idem is not built: run `npm install` (or `npm run build`) in ' + root);
  process.exit(1);
}
require(entry).main(process.argv);
