// Mirrors showip.c: show the addresses getaddrinfo() gives for a host, one line per result.
// Usage: npx tsx examples/showip.ts HOST   (tests use only 127.0.0.1, ::1 and localhost)
import { AF_INET, AF_UNSPEC, SOCK_STREAM, type SockaddrIn, type SockaddrIn6, getaddrinfo } from 'bsd-sockets';
import { die } from './common';

async function main(argv: string[]): Promise<void> {
  if (argv.length !== 1) {
    console.error('usage: showip HOST');
    process.exitCode = 2;
    return;
  }
  const hints = {
    family: AF_UNSPEC, // IPv4 or IPv6
    socktype: SOCK_STREAM, // Else each address once per socket type.
  };

  // An array, not a linked list to free; a failure throws a SocketError whose
  // code is the EAI_* name and whose message ends with gai_strerror()'s text.
  const res = await getaddrinfo(argv[0], null, hints);
  console.log(`IP addresses for ${argv[0]}:`);
  for (const p of res) {
    const version = p.family === AF_INET ? 'IPv4' : 'IPv6';
    const ip = (p.addr as SockaddrIn | SockaddrIn6).address; // Already text: no inet_ntop().
    console.log(`  ${version}: ${ip}`);
  }
}

main(process.argv.slice(2)).catch(die);
