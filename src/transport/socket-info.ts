/**
 * What a response says of its connection's socket: the local and remote addresses,
 * read once per connection (each read is a syscall) by whichever connection owns it.
 */
export interface Addresses {
  localAddress?: string;
  remoteAddress?: string;
}

export function addressesOf(socket: object): Addresses {
  const s = socket as Addresses;
  const a: Addresses = {};
  if (s.localAddress) a.localAddress = s.localAddress;
  if (s.remoteAddress) a.remoteAddress = s.remoteAddress;
  return a;
}
