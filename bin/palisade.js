#!/usr/bin/env node
// The `palisade` command. TypeScript runs through tsx's loader so a fresh
// clone needs no build step (`npm install && npm start`).
// chDB queries, fs writes/fsync and argon2 all run on libuv's thread pool;
// four threads let a long ClickHouse insert delay an fsync. Must be set
// before the pool is first used.
process.env.UV_THREADPOOL_SIZE ??= '16';

const { register } = await import('tsx/esm/api');

register();
await import('../src/cli/main.ts');
