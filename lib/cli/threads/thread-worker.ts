// The threads of the thread-per-connection server, as a C server with
// pthreads would have them: an acceptor blocked in accept(), and one thread
// per connection blocked in read(). Both only make *Sync calls.
import { parentPort, workerData } from 'node:worker_threads';
import { acceptSync, close, readSync, writeSync } from '../../index';
import { REQUEST_BYTES } from './protocol';

const { role, fd } = workerData as { role: 'acceptor' | 'conn'; fd: number };

if (role === 'acceptor') {
  // The listener stays blocking: acceptSync() parks this thread until a client connects.
  for (;;) {
    const conn = acceptSync(fd);
    parentPort?.postMessage({ fd: conn.fd });
  }
} else {
  parentPort?.postMessage('serving');
  const buf = Buffer.alloc(REQUEST_BYTES);
  try {
    serve: for (;;) {
      let got = 0;
      while (got < REQUEST_BYTES) {
        const n = readSync(fd, buf.subarray(got), REQUEST_BYTES - got);
        if (n === 0) break serve; // The client closed.
        got += n;
      }
      writeSync(fd, buf, REQUEST_BYTES);
    }
  } catch {
    // ECONNRESET: the connection is over.
  }
  close(fd);
}
