// The argon2 verifier process (src/auth/argon2-verifier.ts). Plain JavaScript so it
// runs as it is under tsx, the test bundle and the tsc build alike. It holds
// nothing open but its IPC channel: when its parent goes (a crash, SIGKILL) the
// channel closes and the process ends by itself.
'use strict';
const argon2 = require('argon2');

const answer = (m) => {
  if (process.connected) process.send(m);
};

process.on('message', ({ id, hash, secret }) => {
  argon2.verify(hash, secret).then(
    (ok) => answer({ id, ok }),
    // A stored hash argon2 cannot read: the server's fault, never the caller's wrong secret.
    () => answer({ id, failed: true }),
  );
});
