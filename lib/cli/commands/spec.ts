import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../../errors.js';
import { defaultSpec } from '../../oci/default-spec.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';

export async function command({ flags, args }: CommandContext): Promise<number> {
  if (args.length > 0) throw new UsageError(`takes no arguments, got "${args[0]}"`, 'spec');
  const dir = (flags.bundle as string | undefined) ?? '.';
  const file = path.join(dir, 'config.json');
  if (existsSync(file)) throw new TsboxError(`${file} exists: remove it first`);
  const spec = defaultSpec({ rootless: flags.rootless === true });
  try {
    // 'wx': never replace a file that appeared since the check above.
    writeFileSync(file, `${JSON.stringify(spec, null, '\t')}\n`, { flag: 'wx' });
  } catch (err) {
    throw new TsboxError(`write ${file}: ${(err as Error).message}`, { cause: err });
  }
  return 0;
}
