#!/usr/bin/env node
// The build's second step: handler modules find their migrations beside their
// code (`path.join(__dirname, 'migrations')`), so the examples' .sql files are
// copied next to their compiled JavaScript. idem's own migrations are read from
// src/store/migrations, which ships with the package.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const examples = path.join(root, 'examples');
for (const name of fs.readdirSync(examples)) {
  const from = path.join(examples, name, 'migrations');
  if (!fs.existsSync(from)) continue;
  const to = path.join(root, 'dist', 'examples', name, 'migrations');
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true });
}
