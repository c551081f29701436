// A throwaway PKI for tests, made with openssl in a directory the caller owns: a CA, a server
// certificate for etcd on loopback (IP SAN 127.0.0.1), client certificates whose CN is the etcd
// user name, and certificates from a second, untrusted CA. EC P-256, like the etcd lab's pki.sh.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  server: CertFiles;
  /** Client certificates by CN. */
  client(cn: string): CertFiles;
  /** The CA file of the untrusted CA, and a client certificate it signed. */
  untrustedCa: string;
  untrusted(cn: string): CertFiles;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd, timeout: 20_000 });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}-key.pem`], dir);
  await openssl(
    ['req', '-x509', '-new', '-key', `${name}-key.pem`, '-sha256', '-days', '30', '-subj', `/O=hactl-test/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', `${name}.pem`],
    dir,
  );
}

async function makeCert(dir: string, ca: string, file: string, cn: string, eku: string, san?: string): Promise<CertFiles> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${file}-key.pem`], dir);
  await openssl(['req', '-new', '-key', `${file}-key.pem`, '-subj', `/O=hactl-test/CN=${cn}`, '-out', `${file}.csr`], dir);
  const ext = ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', `extendedKeyUsage=${eku}`];
  if (san) ext.push(`subjectAltName=${san}`);
  await writeFile(join(dir, `${file}.ext`), ext.join('\n') + '\n');
  await openssl(
    ['x509', '-req', '-in', `${file}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '30', '-sha256',
      '-extfile', `${file}.ext`, '-out', `${file}.pem`],
    dir,
  );
  await rm(join(dir, `${file}.csr`));
  await rm(join(dir, `${file}.ext`));
  await chmod(join(dir, `${file}-key.pem`), 0o600);
  return { cert: join(dir, `${file}.pem`), key: join(dir, `${file}-key.pem`) };
}

/** Creates the PKI in `dir` (which must exist): trusted client certs for `clientCns`, untrusted ones for `untrustedCns`. */
export async function makeTestPki(dir: string, clientCns: string[], untrustedCns: string[] = []): Promise<TestPki> {
  await makeCa(dir, 'ca');
  await makeCa(dir, 'evil-ca');
  const server = await makeCert(dir, 'ca', 'server', 'etcd-server', 'serverAuth,clientAuth', 'IP:127.0.0.1,DNS:localhost');
  const clients = new Map<string, CertFiles>();
  await Promise.all(clientCns.map(async (cn) => clients.set(cn, await makeCert(dir, 'ca', `client-${cn}`, cn, 'clientAuth'))));
  const untrusted = new Map<string, CertFiles>();
  await Promise.all(untrustedCns.map(async (cn) => untrusted.set(cn, await makeCert(dir, 'evil-ca', `evil-${cn}`, cn, 'clientAuth'))));
  const pick = (m: Map<string, CertFiles>, cn: string): CertFiles => {
    const c = m.get(cn);
    if (!c) throw new Error(`no test certificate for CN ${cn}`);
    return c;
  };
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    server,
    client: (cn) => pick(clients, cn),
    untrustedCa: join(dir, 'evil-ca.pem'),
    untrusted: (cn) => pick(untrusted, cn),
  };
}
