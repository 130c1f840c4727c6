// The argon2 verifier process (src/auth/argon2-verifier.ts). Plain JavaScript so it
// runs as it is under tsx, the test bundle and the tsc build alike.
'use strict';
const argon2 = require('argon2');

// Its parent gone (a crash, SIGKILL): nothing is left to answer.
process.on('disconnect', () => process.exit(0));

process.on('message', ({ id, hash, secret }) => {
  argon2.verify(hash, secret).then(
    (ok) => process.send({ id, ok }),
    // A stored hash argon2 cannot read: the server's fault, never the caller's wrong secret.
    () => process.send({ id, failed: true }),
  );
});
