// One argon2 verifier thread (src/auth/argon2-verifier.ts). Plain JavaScript so it
// runs as it is under tsx, the test bundle and the tsc build alike.
'use strict';
const { readlinkSync } = require('node:fs');
const { setPriority } = require('node:os');
const { parentPort } = require('node:worker_threads');
const { verifySync } = require('@node-rs/argon2');

// The lowest CPU priority for this thread alone (Linux keeps a nice value per
// thread; /proc/thread-self names it): a verification yields to requests.
let niced = false;
try {
  setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 19);
  niced = true;
} catch {
  // Not Linux, or no /proc: verifications run at the process's priority.
}
parentPort.postMessage({ niced });

parentPort.on('message', ({ id, hash, secret }) => {
  let ok = false;
  try {
    ok = verifySync(hash, secret);
  } catch {
    // A hash that does not decode verifies nothing.
  }
  parentPort.postMessage({ id, ok });
});
