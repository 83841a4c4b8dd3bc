/**
 * hiberkit's public API. Pick a backend once (`openBackend()` for this machine,
 * `openBackend({ emulate: dir })` for an emulated one), then hand it to the operations.
 */
export { hibernate, type HibernateOptions, type HibernateResult } from './hibernate.js';
export { resume, type ResumeOptions, type ResumeResult } from './resume.js';
export { inspect, type InspectOptions, type ImageReport } from './inspect.js';
export { discard, type DiscardOptions, type DiscardResult } from './discard.js';
export { checkHibernation, type Finding } from './preflight.js';
export { openBackend, type BackendChoice } from './select-backend.js';
export { loadConfig, parseConfig, DEFAULT_CONFIG_PATH, type Settings } from './config.js';
export { SnapshotError, HiberkitError, isSnapshotError, ERRNO, errnoCode, type ErrnoCode, type HiberkitErrorCode } from './errors.js';
export { IOCTLS, PAGE_SIZE, encodeDev, decodeDev, type SnapshotIoctl } from './ioctls.js';
export type * from './backend.js';
