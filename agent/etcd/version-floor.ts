// The oldest etcd release, per release line, whose leases behave as hactl's lease rules assume
// (docs/install.md explains why). Two etcd bugs broke that assumption and were fixed late in each
// line: a stale leader could revoke leases that had just been renewed, and a renewal racing a
// revocation could be answered "renewed" for a lease already gone. hactl warns below the floor;
// it does not refuse, because an operator may need the agent running while etcd is upgraded.

/** Per release line (major.minor), the first release with both fixes. */
const FLOORS: Record<string, [number, number, number]> = {
  '3.4': [3, 4, 38],
  '3.5': [3, 5, 23],
  '3.6': [3, 6, 5],
};
/** Release lines before this have no fixed release at all. */
const OLDEST_LINE: [number, number] = [3, 4];

export type EtcdVersionCheck =
  | { status: 'ok'; version: string }
  | { status: 'below'; version: string; floor: string; reason: string }
  | { status: 'unknown'; version: string; reason: string };

/** Checks a version as etcd's Maintenance `status` reports it ("3.5.23"; a "v" and a pre-release tag are accepted). */
export function checkEtcdVersion(version: string): EtcdVersionCheck {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/.exec(version.trim());
  if (!m) return { status: 'unknown', version, reason: `etcd version ${JSON.stringify(version)} cannot be read` };
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const preRelease = m[4] !== undefined;
  const line = `${major}.${minor}`;
  if (major < OLDEST_LINE[0] || (major === OLDEST_LINE[0] && minor < OLDEST_LINE[1])) {
    return { status: 'below', version, floor: FLOORS['3.4'].join('.'), reason: `etcd ${version} is older than 3.4, which has no release with the lease fixes hactl relies on` };
  }
  const floor = FLOORS[line];
  if (!floor) return { status: 'ok', version }; // a newer release line: both fixes are in
  const floorText = floor.join('.');
  // A pre-release of the floor itself may predate the fixes: counted as below.
  const below = patch < floor[2] || (patch === floor[2] && preRelease);
  return below
    ? { status: 'below', version, floor: floorText, reason: `etcd ${version} is below ${floorText}, the first ${line} release where a stale leader cannot revoke renewed leases and a renewal cannot succeed for a revoked lease` }
    : { status: 'ok', version };
}
