import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { TsboxError } from '../errors.js';
import type { Binding } from '../native/binding.js';
import { criuPath, criuReason, criuUnusable } from './criu.js';
import { CriuReqType, decodeResponse, encodeNotifyAnswer, encodeRequest, type CriuOpts, type CriuResponse } from './rpc.js';

/**
 * A notification CRIU sends while it works (an action: setup-namespaces,
 * orphan-pts-master, ...), with the descriptor that came with it (-1 if
 * none; the handler owns it). Resolving answers it as done, rejecting as
 * failed, which fails CRIU's request.
 */
export type NotifyHandler = (script: string, pid: number | undefined, fd: number) => Promise<void>;

/**
 * Runs one request through CRIU's RPC: `criu swrk 3`, its end of a
 * SOCK_SEQPACKET pair as descriptor 3, the caller's descriptors (`extra`)
 * from 4 on, `stdio` as its 0-2. The request goes as one packet; CRIU
 * answers each action with a notification (answered with the handler's
 * result), then with the request's result, then exits.
 *
 *   tsbox                         criu swrk 3
 *     | -- criu_req (opts) -------> |
 *     | <-- criu_resp NOTIFY ------ |  (pre-restore, setup-namespaces
 *     | --- criu_req NOTIFY ok ---> |   with the root's pid,
 *     |            ...              |   orphan-pts-master with a master fd, ...)
 *     | <-- criu_resp RESTORE ----- |  (success, the root's pid)
 *                                   exits
 *
 * Rejects with `what` and CRIU's reason (its log's first error, else its
 * answer's message or its stderr) when the request fails; a handler's
 * error is the reason when it failed.
 */
export async function criuSwrk(
  native: Binding,
  what: string,
  type: number,
  opts: CriuOpts,
  log: string,
  options: { wrap?: string[]; stdio: [number | 'ignore', number | 'ignore', 'pipe' | 'ignore']; extra?: number[]; onNotify?: NotifyHandler },
): Promise<CriuResponse> {
  const criu = criuPath();
  if (!criu) throw new TsboxError(`${what}: ${criuUnusable()}`);
  const argv = [...(options.wrap ?? []), criu, 'swrk', '3'];
  const [ours, theirs] = native.seqpacketPair();
  let stderr = '';
  let exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  try {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [...options.stdio, theirs, ...(options.extra ?? [])] });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    exited = new Promise((resolve, reject) => {
      child.on('error', (err) => reject(new TsboxError(`${what}: cannot run ${argv[0]}: ${err.message}`, { cause: err })));
      child.on('close', (status, signal) => resolve({ status, signal }));
    });
  } finally {
    // Only criu holds its end now: its exit ends our reads.
    native.close(theirs);
  }
  let handlerError: unknown;
  let result: CriuResponse | undefined;
  try {
    native.sendPacket(ours, encodeRequest(type, opts));
    for (;;) {
      const packet = await native.recvPacket(ours);
      if (packet === 'again') continue;
      if (packet === null) break; // criu is gone
      const resp = decodeResponse(packet.data);
      if (resp.type !== CriuReqType.NOTIFY) {
        if (packet.fd >= 0) native.close(packet.fd);
        result = resp;
        break;
      }
      let ok = true;
      try {
        if (options.onNotify) await options.onNotify(resp.notify?.script ?? '', resp.notify?.pid, packet.fd);
        else if (packet.fd >= 0) native.close(packet.fd);
      } catch (err) {
        handlerError ??= err;
        ok = false;
      }
      native.sendPacket(ours, encodeNotifyAnswer(ok));
    }
  } finally {
    native.close(ours);
  }
  const { status, signal } = await exited;
  if (handlerError !== undefined) throw handlerError;
  if (result?.success && result.type === type) return result;
  let logText = '';
  try {
    logText = readFileSync(log, 'utf8');
  } catch {
    // criu failed before it opened its log: its answer or stderr says why.
  }
  const reason =
    criuReason(logText) ??
    result?.crErrmsg ??
    criuReason(stderr) ??
    (stderr.trim().split('\n').pop() || (result ? `criu answered ${JSON.stringify(result)}` : signal ? `killed by ${signal}` : `exit status ${status}`));
  throw new TsboxError(`${what}: ${reason} (criu's log: ${log})`);
}
