#!/usr/bin/env node
// The `palisade` command. TypeScript runs through tsx's loader so a fresh
// clone needs no build step (`npm install && npm start`).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
