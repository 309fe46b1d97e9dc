#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const entry = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  console.error('idem is not built yet: run `npm install && npm run build` in ' + path.join(__dirname, '..'));
  process.exit(1);
}
require(entry).main(process.argv);
