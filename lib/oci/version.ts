/**
 * The runtime-spec versions tsbox implements, apart from the default
 * config (./default-spec.ts): `tsbox state` prints OCI_VERSION on every
 * call, and should not load the config's tables to do it.
 */

/** The runtime-spec version tsbox writes and implements. */
export const OCI_VERSION = '1.2.0';

/** The newest runtime-spec version whose configs tsbox takes (`features`' ociVersionMax). */
export const OCI_VERSION_MAX = '1.3.0';
